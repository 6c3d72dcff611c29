"""The mxnet plug-in: its adapter (``adapter.py``) and its profile (``profile.toml``)."""
