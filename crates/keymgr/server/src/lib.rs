//! rustack-keymgr-server (being written).
