"""conformance-numpy-mirror: a worked example of a third-party plug-in for
param-conformance. The adapter (:mod:`conformance_numpy_mirror.adapter`) drives
the suite's numpy reference framework (:mod:`conformance.reference.nn`) under
the name ``mirror``; its profile (``profile.toml`` beside it) says what the
mirror documents, which clause it does not support and its one known
deviation."""
