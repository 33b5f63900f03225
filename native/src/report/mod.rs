//! What an analysis leaves behind: the CSV tables and the terminal summary of a
//! [`crate::findings::Report`], the overlay a person looks at, and the result folder
//! written atomically ([`folder`]).

pub mod csv;
pub mod folder;
pub mod overlay;
pub mod text;
