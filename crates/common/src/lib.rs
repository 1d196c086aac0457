//! Types shared by every rustack crate: the transport-agnostic [`Error`], time helpers
//! and id helpers. This crate depends on nothing internal; every service renders
//! [`Error`] into its own fault style in `rustack-api-common`.

pub mod error;
pub mod time;

pub use error::Error;

/// A new random id in the form OpenStack services use for resource ids: 32 lowercase hex
/// characters (a UUID4 without dashes), as Keystone generates them.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new random UUID4 in its dashed form, as Nova, Glance and Neutron generate ids.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}
