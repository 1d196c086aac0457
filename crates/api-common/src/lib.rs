//! Server-side OpenStack plumbing shared by every service: fault rendering per service
//! style, the request-id and request-log middleware, the typed [`AuthContext`] built from
//! a validated token, the [`TokenValidator`] seam (in-process in the all-in-one cloud, over
//! the Identity API when split), JSON body parsing with OpenStack-style 400s, and links.

pub mod auth;
pub mod fault;
pub mod json;
pub mod remote;
pub mod request;

pub use auth::{AuthContext, TokenValidator, X_AUTH_TOKEN, X_SUBJECT_TOKEN};
pub use fault::{Fault, FaultStyle, KeystoneStyle, NovaStyle};
pub use json::parse_json;
pub use request::{request_layer, RequestId, X_OPENSTACK_REQUEST_ID};
