//! Networking API integration tests on the in-process service (one binary, one module
//! per resource).

mod authz;
mod common;
mod floatingips;
mod metering;
mod misc;
mod networks;
mod ports;
mod routers;
mod security_groups;
