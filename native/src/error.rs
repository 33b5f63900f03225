//! One error type for the whole library, sorted by who is at fault.

use std::fmt;
use std::path::PathBuf;

/// What went wrong, in terms a user can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A parameter is out of its physical or supported range.
    InvalidParameter,
    /// A file could not be read or decoded.
    Decode,
    /// A file could not be written.
    Io,
    /// The input is valid but not supported (e.g. RGB, an unknown format).
    Unsupported,
    /// The operation was cancelled by the caller.
    Cancelled,
    /// A model is missing or does not match its card.
    Model,
    /// The requested device cannot be used (a build without CUDA, no driver, cuDNN or
    /// GPU, or a GPU that failed).
    Device,
}

impl ErrorKind {
    /// Every kind, in the order the Java binding's `StemSightException.Kind` lists them.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::InvalidParameter,
        ErrorKind::Decode,
        ErrorKind::Io,
        ErrorKind::Unsupported,
        ErrorKind::Cancelled,
        ErrorKind::Model,
        ErrorKind::Device,
    ];

    /// The kind's name: the name of its `StemSightException.Kind` constant in the Java
    /// binding, which JNI `limits()` exports for the binding's tests to compare.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidParameter => "InvalidParameter",
            ErrorKind::Decode => "Decode",
            ErrorKind::Io => "Io",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::Model => "Model",
            ErrorKind::Device => "Device",
        }
    }
}

/// A library error: a kind, a human message, and optionally the file it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub path: Option<PathBuf>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            path: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    /// An [`ErrorKind::Device`] error: why the requested device cannot be used.
    pub fn device(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Device, message)
    }

    pub fn io(path: impl Into<PathBuf>, err: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Io,
            message: err.to_string(),
            path: Some(path.into()),
        }
    }

    pub fn decode(path: impl Into<PathBuf>, err: impl fmt::Display) -> Self {
        Error {
            kind: ErrorKind::Decode,
            message: err.to_string(),
            path: Some(path.into()),
        }
    }

    /// Attach the file this error concerns, so the message names it.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` holds every kind once, at the place this exhaustive match gives it (a new
    /// kind does not compile until it is placed here and in `ALL`), and the names are
    /// the variants' own.
    #[test]
    fn all_kinds_listed_once_with_their_names() {
        let place = |kind: ErrorKind| match kind {
            ErrorKind::InvalidParameter => 0,
            ErrorKind::Decode => 1,
            ErrorKind::Io => 2,
            ErrorKind::Unsupported => 3,
            ErrorKind::Cancelled => 4,
            ErrorKind::Model => 5,
            ErrorKind::Device => 6,
        };
        for (k, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(place(*kind), k);
            assert_eq!(kind.name(), format!("{kind:?}"));
        }
    }
}
