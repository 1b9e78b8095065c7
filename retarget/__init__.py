"""Human motion in (formats, validation, normalisation), robot motion out (retargeting, schemas)."""
