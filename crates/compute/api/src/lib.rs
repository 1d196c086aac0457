//! The Compute API (Nova v2.1) wire types, microversion table and configuration.
