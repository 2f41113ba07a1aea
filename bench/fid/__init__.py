"""The fidelity benchmark's parts (``bench/fidelity.py`` is its command line): clips and
where they are measured (:mod:`.clips`, :mod:`.footage`), the tools an editor already has
(:mod:`.baselines`), the measures (:mod:`.metrics`), the cases (:mod:`.cases`), speed
(:mod:`.speed`) and the printed report (:mod:`.report`)."""
