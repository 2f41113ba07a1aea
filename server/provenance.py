"""Content Credentials (C2PA) for every file ShotForge renders: what made it, from what, signed.

Each MOV/MP4 gets a C2PA manifest embedded in the file (c2pa-rs' BMFF handler: a ``uuid`` box,
the rest of the file hashed), signed offline:

- a ``c2pa.created`` action whose IPTC digital source type says how the pictures came to be
  (:func:`digital_source_type`);
- the recipe as the assertion :data:`RECIPE_LABEL`: the take (:mod:`server.takes`: engine,
  model and its revision, operation, slot, prompt, negative prompt, seed, steps, guidance, LoRA,
  ShotForge version, the request timeline packed), the same one the media tags carry;
- the source media as ingredients, named by file name and SHA-256, never embedded: ``inputTo``
  for frames the engine was shown, ``componentOf`` for real frames copied into the file. A source
  that carries its own Content Credentials brings its manifest along (the chain stays whole).

Signing credentials: the certificate and key named by ``SHOTFORGE_C2PA_CERT`` and
``SHOTFORGE_C2PA_KEY`` (PEM; the certificate file holds the signing certificate first, then
any intermediates), else a local chain made on first use in ``SHOTFORGE_C2PA_DIR`` (default:
``c2pa/`` beside the per-user config file): a root CA that is only ever used to issue one ES256
end-entity certificate and is then thrown away, so that certificate is the only one that chains
to it. Give ``trust_anchor.pem`` from that folder to whoever validates the files.

No time-stamp authority is asked (the server works offline), so validators judge the
certificate's validity at validation time: the local certificate is made to last
:data:`LOCAL_CERT_DAYS` days.

c2pa is imported only inside the functions that sign or read, so the rest of the server never
loads it.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from otio_tools.errors import ShotForgeError

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: Made by a model trained on sampled content (a diffusion model).
TRAINED = IPTC + "trainedAlgorithmicMedia"
#: Real pictures edited by such a model: outpainting, inpainting (the pixels outside the mask are
#: the source's), or a file mixing real and generated frames.
COMPOSITE_TRAINED = IPTC + "compositeWithTrainedAlgorithmicMedia"
#: Made purely by an algorithm, from no sampled content (the classical engine's plain slate).
ALGORITHMIC = IPTC + "algorithmicMedia"
#: Real pictures mixed with at least one synthetic element made without a trained model: the
#: classical engine's flow-warped in-between and continued frames, its painted outpaint border,
#: its inpainted region (pixels of other frames of the shot moved in, the rest filled), its slate
#: over a real reference frame.
COMPOSITE_SYNTHETIC = IPTC + "compositeSynthetic"
#: Only real pictures, recombined (handles copied at another rate, nothing synthesized).
COMPOSITE_CAPTURED = IPTC + "composite"

RECIPE_LABEL = "org.shotforge.recipe"
SHA256_FIELD = "org.shotforge.sha256"  # in each ingredient's metadata
LOCAL_CERT_DAYS = 3650
_MEDIA_TYPES = {".mov": "video/quicktime", ".mp4": "video/mp4"}
#: The extended key usages c2pa-rs accepts for signing (its valid_eku_oids.cfg): emailProtection,
#: documentSigning, timeStamping, OCSPSigning, Microsoft's C2PA signing.
_ALLOWED_EKUS = ("1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.36", "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9",
                 "1.3.6.1.4.1.311.76.59.1.9")
#: The local certificate's: emailProtection (c2pa 0.38 refuses documentSigning alone once trust settings
#: are given) and documentSigning (its purpose).
_EKUS = _ALLOWED_EKUS[:2]


class CredentialsError(ShotForgeError):
    """The file cannot be signed: unusable credentials, or the C2PA library failed. The job fails
    rather than ship media without its Content Credentials."""

    def __init__(self, message: str):
        super().__init__("signing_failed", message)


# -- what goes into the manifest ----------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """A source file of the new media and how it went in: ``inputTo`` (the engine saw its frames)
    or ``componentOf`` (its frames are in the file)."""

    path: str
    relationship: str


def job_sources(plan) -> list[Source]:
    """The source files of a planned job (:class:`otio_tools.plan.Plan`), each once; a file whose
    frames are copied into the new media is a component even if the engine saw it too."""
    found: dict[str, str] = {}
    inpaint = getattr(plan, "inpaint", None)
    if inpaint is not None:  # the shot's pixels outside the mask are in the file as they were
        found[plan.context.media] = "componentOf"
        if inpaint.mask is not None:
            found.setdefault(inpaint.mask, "inputTo")
    for frames in (plan.context, plan.after, plan.reference):
        if frames is not None:
            found.setdefault(frames.media, "inputTo")
    if plan.copied_handles:
        found[plan.handles.media] = "componentOf"
    return [Source(path, relationship) for path, relationship in found.items()]


def digital_source_type(*, learned: bool, operation: str, made_frames: int, copied_frames: int,
                        placeholder: bool = False, reference: bool = False) -> str:
    """The IPTC digital source type of a rendered file.

    ``learned``: the engine runs a trained model; ``made_frames``/``copied_frames``: frames the
    engine made / real frames copied in; ``placeholder``: generate made a stand-in slate;
    ``reference``: generate was given a reference frame (the slate shows it, dimmed)."""
    if made_frames == 0 and operation != "outpaint":
        return COMPOSITE_CAPTURED
    if placeholder:
        return COMPOSITE_SYNTHETIC if reference else ALGORITHMIC
    keeps_real_pixels = operation in ("outpaint", "inpaint") or copied_frames > 0
    if learned:
        return COMPOSITE_TRAINED if keeps_real_pixels else TRAINED
    return COMPOSITE_SYNTHETIC


def _without_number_lists(value):
    """c2pa 0.38 stores any list of numbers in an assertion as bytes (44, 500 -> 0x2c 0xf4; floats
    vanish): such a list is written as its JSON text instead."""
    if isinstance(value, dict):
        return {key: _without_number_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
            return json.dumps(value)
        return [_without_number_lists(item) for item in value]
    return value


def manifest_definition(title: str, source_type: str, take: dict, ingredient_labels: list[str]) -> dict:
    """The manifest (c2pa-rs ManifestDefinition JSON) for one rendered file; ``take`` is its take
    (:func:`server.takes.take_recipe`), the recipe assertion."""
    from server import shotforge_version

    version = shotforge_version()
    engine, model = take["engine"], take["model"]
    return {
        "claim_generator_info": [{"name": "ShotForge", "version": version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": source_type,
                "softwareAgent": {"name": f"ShotForge {engine} engine", "version": version},
                "description": f"{take['operation']} by the {engine} engine"
                               + (f" with {model}" if model != engine else ""),
                "parameters": {"ingredientIds": ingredient_labels},
            }]}},
            {"label": RECIPE_LABEL, "data": _without_number_lists(json.loads(json.dumps(take, default=str)))},
        ],
    }


def ingredient_definition(source: Source, label: str) -> dict:
    """An ingredient by file name (never its folder) and content hash."""
    return {"title": os.path.basename(source.path), "relationship": source.relationship, "label": label,
            "metadata": {SHA256_FIELD: file_sha256(source.path)}}


def file_sha256(path: str | os.PathLike) -> str:
    stat = os.stat(path)
    return _sha256_cached(os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, _mtime_ns: int, _size: int) -> str:
    """Hashed once per version of a file: the same sources come back job after job."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# -- credentials --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Credentials:
    chain_pem: bytes  # the signing certificate, then any intermediates
    key_pem: bytes
    alg: str  # c2pa's name: es256, es384, es512, ps256, ed25519
    trust_anchor_pem: bytes | None  # the local root; None for a configured certificate
    where: str  # for messages: the files they came from


def local_folder() -> Path:
    named = os.environ.get("SHOTFORGE_C2PA_DIR")
    if named:
        return Path(named).expanduser().absolute()
    from server.settings import default_config_path

    return default_config_path().parent / "c2pa"


def active_credentials() -> Credentials:
    """The configured certificate and key, else the local chain (made on first use)."""
    cert, key = os.environ.get("SHOTFORGE_C2PA_CERT"), os.environ.get("SHOTFORGE_C2PA_KEY")
    if cert or key:
        if not (cert and key):
            raise CredentialsError("Content Credentials: set both SHOTFORGE_C2PA_CERT and SHOTFORGE_C2PA_KEY "
                                   f"(only {'SHOTFORGE_C2PA_CERT' if cert else 'SHOTFORGE_C2PA_KEY'} is set)")
        return load_credentials(Path(cert), Path(key))
    return local_credentials(local_folder())


def load_credentials(cert_path: Path, key_path: Path, trust_anchor: Path | None = None) -> Credentials:
    """Read and check a PEM certificate chain and its private key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    where = f"{cert_path} and {key_path}"
    try:
        chain_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
        anchor_pem = trust_anchor.read_bytes() if trust_anchor else None
    except OSError as exc:
        raise CredentialsError(f"Content Credentials: cannot read {exc.filename}: {exc.strerror}") from None
    try:
        certificate = x509.load_pem_x509_certificates(chain_pem)[0]
    except ValueError as exc:
        raise CredentialsError(f"Content Credentials: {cert_path} is not a PEM certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(f"Content Credentials: {key_path} is not an unencrypted PEM private key: "
                               f"{exc}") from None
    if key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo):
        raise CredentialsError(f"Content Credentials: the key in {key_path} is not the key of the certificate "
                               f"in {cert_path}")
    now = datetime.datetime.now(datetime.timezone.utc)
    first, last = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not first <= now <= last:
        renew = f" (delete {cert_path.parent} to make a new local one)" if anchor_pem else ""
        raise CredentialsError(f"Content Credentials: the certificate in {cert_path} is valid from "
                               f"{first:%Y-%m-%d} to {last:%Y-%m-%d}, not now{renew}")
    problems = certificate_problems(certificate)
    if problems:
        raise CredentialsError(f"Content Credentials: the certificate in {cert_path} cannot sign C2PA manifests: "
                               + "; ".join(problems))
    # c2pa reads PKCS#8 only; keys often come as "EC PRIVATE KEY" / "RSA PRIVATE KEY"
    pkcs8 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    return Credentials(chain_pem, pkcs8, signing_alg(key, cert_path), anchor_pem, where)


def certificate_problems(certificate) -> list[str]:
    """What keeps a signing certificate from c2pa-rs' certificate profile, in words (c2pa itself
    says only "the certificate is invalid")."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def extension(kind):
        try:
            return certificate.extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    problems = []
    if certificate.version != x509.Version.v3:
        problems.append("it is not an X.509 v3 certificate")
    constraints = extension(x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        problems.append("it is a CA certificate, not an end-entity one")
    usage = extension(x509.KeyUsage)
    if usage is None or not (usage.digital_signature or usage.content_commitment):
        problems.append("its key usage does not include digitalSignature")
    elif usage.key_cert_sign:
        problems.append("its key usage includes keyCertSign")
    ekus = extension(x509.ExtendedKeyUsage)
    if ekus is None:
        problems.append("it has no extended key usage (C2PA needs emailProtection or documentSigning)")
    elif ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in ekus:
        problems.append("its extended key usage is anyExtendedKeyUsage, which C2PA refuses")
    elif not {oid.dotted_string for oid in ekus} & set(_ALLOWED_EKUS):
        problems.append("its extended key usage has none of emailProtection, documentSigning or C2PA signing")
    if extension(x509.AuthorityKeyIdentifier) is None:
        problems.append("it has no authority key identifier")
    return problems


def signing_alg(key, where: Path) -> str:
    """The COSE algorithm for a private key (C2PA: ECDSA P-256/384/521, RSA-PSS, Ed25519)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey):
        algs = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
        raise CredentialsError(f"Content Credentials: the key of {where} is on curve {key.curve.name}; C2PA "
                               "signs with P-256, P-384 or P-521")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise CredentialsError(f"Content Credentials: the RSA key of {where} has {key.key_size} bits; "
                                   "C2PA needs at least 2048")
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise CredentialsError(f"Content Credentials: the key of {where} is a {type(key).__name__}; C2PA signs "
                           "with ECDSA, RSA-PSS or Ed25519")


_CHAIN, _KEY, _ANCHOR = "signer_chain.pem", "signer_key.pem", "trust_anchor.pem"


def local_credentials(folder: Path) -> Credentials:
    """The local chain in ``folder``, made there the first time. Made in a temporary folder and
    renamed into place whole, so concurrent first jobs agree on one chain and a crash leaves none."""
    if not (folder / _CHAIN).is_file():
        _make_local_chain(folder)
    return load_credentials(folder / _CHAIN, folder / _KEY, folder / _ANCHOR)


def _make_local_chain(folder: Path) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        temp = folder.parent / f".{folder.name}.part-{secrets.token_hex(4)}"
        temp.mkdir(mode=0o700)
    except OSError as exc:
        raise CredentialsError(f"Content Credentials: cannot make the local signing certificate in {folder}: "
                               f"{exc.strerror} (set SHOTFORGE_C2PA_DIR to a writable folder, or configure a "
                               "certificate with SHOTFORGE_C2PA_CERT and SHOTFORGE_C2PA_KEY)") from None
    try:
        chain, key, anchor = issue_local_chain(socket.gethostname() or "this machine")
        for name, data, mode in ((_ANCHOR, anchor, 0o644), (_CHAIN, chain, 0o644), (_KEY, key, 0o600)):
            descriptor = os.open(temp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            with os.fdopen(descriptor, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        try:
            os.rename(temp, folder)  # replaces an empty folder; fails if another job made one first
        except OSError:
            if not (folder / _CHAIN).is_file():
                raise
    except OSError as exc:
        raise CredentialsError(f"Content Credentials: cannot make the local signing certificate in {folder}: "
                               f"{exc}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def issue_local_chain(host: str, days: int = LOCAL_CERT_DAYS) -> tuple[bytes, bytes, bytes]:
    """A fresh root CA and one ES256 end-entity certificate it issues, as c2pa-rs requires (v3,
    critical key usage digitalSignature only, an allowed EKU, authority key identifier, not
    self-signed). Returns PEM (end-entity certificate, its private key, root certificate); the
    root's private key is dropped here."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ShotForge (local)"),
                          x509.NameAttribute(NameOID.COMMON_NAME, common[:64])])

    def usage(**flags: bool) -> x509.KeyUsage:
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{n: flags.get(n, False) for n in names})

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = name(f"ShotForge local root on {host}")
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(name(f"ShotForge on {host}")).issuer_name(root_name)
              .public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(usage(digital_signature=True), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ObjectIdentifier(oid) for oid in _EKUS]), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
              .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (signer.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
            root.public_bytes(pem))


# -- signing and reading ------------------------------------------------------------------------

def c2pa_settings(trust_anchor_pem: bytes | None) -> dict:
    """Offline settings: no remote manifest or OCSP fetch, no thumbnail (no source picture is ever
    copied into a manifest); trust judged against ``trust_anchor_pem`` when one is given."""
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                           "verify_trust": trust_anchor_pem is not None},
                "builder": {"thumbnail": {"enabled": False}}}
    if trust_anchor_pem:
        settings["trust"] = {"user_anchors": trust_anchor_pem.decode("ascii")}
    return settings


def media_type(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _MEDIA_TYPES:
        raise CredentialsError(f"Content Credentials: cannot sign {path}: only .mov and .mp4 are signed here")
    return _MEDIA_TYPES[suffix]


def sign_media(unsigned: Path, dest: Path, *, source_type: str, take: dict, sources: Iterable[Source],
               credentials: Credentials | None = None) -> None:
    """Write ``unsigned`` to ``dest`` with its manifest embedded. Atomic: a hidden temporary file
    beside ``dest`` renamed onto it when complete; on failure ``dest`` is untouched and nothing is
    left. c2pa checks the manifest (and, for the local chain, trust) right after signing."""
    credentials = credentials or active_credentials()
    kind = media_type(dest)
    try:
        import c2pa
    except ImportError as exc:
        raise CredentialsError(f"Content Credentials: the C2PA library cannot be loaded here ({exc}); "
                               f"{dest.name} was not written") from None
    temp = dest.with_name(f".{dest.name}.signing-{secrets.token_hex(4)}")
    try:
        sources = list(sources)
        ingredients = [ingredient_definition(source, f"source{i}") for i, source in enumerate(sources)]
        kinds = [source_kind(source.path) for source in sources]
        readable = set(c2pa.Builder.get_supported_mime_types())
        definition = manifest_definition(dest.name, source_type, take, [i["label"] for i in ingredients])
        # A format c2pa reads is added from the file itself, so a source's own manifest comes along;
        # any other is named in the definition, by name, format and hash alone.
        definition["ingredients"] = [i | {"format": k} for i, k in zip(ingredients, kinds) if k not in readable]
        builder = c2pa.Builder(definition, context=c2pa.Context.from_dict(c2pa_settings(credentials.trust_anchor_pem)))
        for source, ingredient, ingredient_kind in zip(sources, ingredients, kinds):
            if ingredient_kind in readable:
                with open(source.path, "rb") as stream:
                    builder.add_ingredient(ingredient, ingredient_kind, stream)
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(credentials.alg, credentials.chain_pem,
                                                           credentials.key_pem, None))  # offline: no TSA
        with open(unsigned, "rb") as src, open(temp, "w+b") as out:
            builder.sign(signer, kind, src, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, dest)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"Content Credentials: signing {dest.name} with {credentials.where} failed: "
                               f"{exc}") from None
    except OSError as exc:
        raise CredentialsError(f"Content Credentials: cannot sign {dest.name}: {exc}") from None
    finally:
        temp.unlink(missing_ok=True)


#: the media type of each container ShotForge reads source media from (QuickTime/MP4 is told apart by its brand)
_CONTAINER_TYPES = {"matroska": "video/x-matroska", "avi": "video/x-msvideo", "mpegts": "video/mp2t",
                    "mpeg": "video/mpeg", "mxf": "application/mxf"}


def source_kind(path: str) -> str:
    """A source's media type from its first bytes, as ShotForge read it: its name may say another
    (c2pa, told the name's type, fails to parse the file and the whole render is lost at the end)."""
    from server import masks, media_formats

    with open(path, "rb") as fh:
        head = fh.read(64 << 10)  # as much as media_formats reads to tell a container
    demuxer = media_formats.identify_bytes(head).demuxer
    if demuxer == "mov":
        return "video/mp4" if head[4:8] == b"ftyp" and head[8:12] != b"qt  " else "video/quicktime"
    if demuxer == "matroska" and b"\x42\x82\x84webm" in head[:64]:  # the EBML header's DocType
        return "video/webm"
    return masks.still_type(head) or _CONTAINER_TYPES.get(demuxer, "application/octet-stream")
