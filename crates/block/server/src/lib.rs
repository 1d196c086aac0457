//! rustack-block-server (being written).
