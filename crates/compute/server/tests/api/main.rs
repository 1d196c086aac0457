//! Compute API integration tests on the in-process service (one binary, one module per
//! resource).

mod authz;
mod common;
mod flavors;
mod hosts;
mod keypairs;
mod quotas;
mod server_groups;
mod usage;
mod versions;
