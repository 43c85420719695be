//! SIP: the wire layer, sans-IO transactions and dialogs. Syntax only; dialects live in
//! [`crate::dialect`].

pub mod dialog;
pub mod txn;
pub mod wire;
