//! rustack-block-agent (being written).
