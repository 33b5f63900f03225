//! How an entry point fails: every engine error, JNI error and panic becomes a Java
//! `org.stemsight.StemSightException(kind, message)`, whose kind names a
//! `StemSightException.Kind` constant: one of the engine's [`ErrorKind`]s, or one of
//! the binding's own ([`ExceptionKind`]). Nothing here may panic across the JNI
//! boundary, since that aborts the JVM.

use crate::error::{Error, ErrorKind};
use jni::objects::{GlobalRef, JThrowable, JValue};
use jni::JNIEnv;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Java class thrown for every failure.
const EXCEPTION_CLASS: &str = "org/stemsight/StemSightException";

/// The `StemSightException.Kind` a failure is thrown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExceptionKind {
    /// An engine error, named as [`ErrorKind::name`] names it.
    Error(ErrorKind),
    /// An internal engine error, caught before it could reach the JVM.
    Panic,
    /// A JNI call failed.
    Jni,
    /// Another failure of the binding (a worker thread that cannot start, a report
    /// that cannot be serialized).
    Engine,
}

impl ExceptionKind {
    /// The binding's own kinds, which follow the engine's in `StemSightException.Kind`.
    pub(super) const BINDING: [ExceptionKind; 3] = [
        ExceptionKind::Panic,
        ExceptionKind::Jni,
        ExceptionKind::Engine,
    ];

    /// The name of the `StemSightException.Kind` constant this kind is thrown as.
    pub(super) fn java_name(self) -> &'static str {
        match self {
            ExceptionKind::Error(kind) => kind.name(),
            ExceptionKind::Panic => "Panic",
            ExceptionKind::Jni => "Jni",
            ExceptionKind::Engine => "Engine",
        }
    }
}

/// Why an entry point failed.
pub(super) enum Failure {
    /// Thrown as `StemSightException(kind, message)`.
    Raise {
        kind: ExceptionKind,
        message: String,
    },
    /// A Java exception is pending (or held) already; it propagates unchanged.
    Java(Option<HeldThrowable>),
}

/// A Java throwable to rethrow once the engine has stopped (a global reference, so no
/// JNI frame lifetime has to be threaded through).
pub(super) struct HeldThrowable(pub(super) GlobalRef);

pub(super) type JResult<T> = std::result::Result<T, Failure>;

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Raise { kind, message } => write!(f, "{}: {message}", kind.java_name()),
            Failure::Java(_) => f.write_str("Java exception"),
        }
    }
}

impl Failure {
    pub(super) fn raise(kind: ExceptionKind, message: impl Into<String>) -> Self {
        Failure::Raise {
            kind,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::InvalidParameter`] failure: what Java passed is unusable.
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Failure::raise(ExceptionKind::Error(ErrorKind::InvalidParameter), message)
    }

    /// The kind this failure is thrown as (`None`: a Java exception propagates).
    #[cfg(test)]
    pub(super) fn kind(&self) -> Option<ExceptionKind> {
        match self {
            Failure::Raise { kind, .. } => Some(*kind),
            Failure::Java(_) => None,
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::raise(ExceptionKind::Error(e.kind), e.to_string())
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        match e {
            jni::errors::Error::JavaException => Failure::Java(None),
            other => Failure::raise(ExceptionKind::Jni, format!("JNI call failed: {other}")),
        }
    }
}

/// A caught panic as a [`ExceptionKind::Panic`] failure.
pub(super) fn panicked(payload: &(dyn Any + Send)) -> Failure {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Failure::raise(
        ExceptionKind::Panic,
        format!("internal error in the StemSight engine: {text}"),
    )
}

/// Runs `body`, turning errors and panics into a pending Java exception and
/// returning `fallback` (which Java never sees, since an exception is pending).
pub(super) fn guarded<'local, T>(
    env: &mut JNIEnv<'local>,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv<'local>) -> JResult<T>,
) -> T {
    let failure = match catch_unwind(AssertUnwindSafe(|| body(&mut *env))) {
        Ok(Ok(value)) => return value,
        Ok(Err(failure)) => failure,
        Err(payload) => panicked(payload.as_ref()),
    };
    // Raising must not panic either: a panic escaping an extern "C" fn aborts the JVM.
    let _ = catch_unwind(AssertUnwindSafe(|| raise(env, failure)));
    fallback
}

/// Makes `failure` the pending Java exception, degrading to RuntimeException if the
/// StemSight class cannot be built; never aborts.
fn raise(env: &mut JNIEnv, failure: Failure) {
    match failure {
        Failure::Java(Some(held)) => {
            let _ = env.exception_clear();
            let rethrown = env
                .new_local_ref(held.0.as_obj())
                .and_then(|t| env.throw(JThrowable::from(t)));
            if rethrown.is_ok() {
                return;
            }
            let _ = env.throw_new("java/lang/RuntimeException", "progress listener failed");
        }
        Failure::Java(None) => {
            if env.exception_check().unwrap_or(false) {
                return;
            }
            let _ = env.throw_new("java/lang/RuntimeException", "JNI call failed");
        }
        Failure::Raise { kind, message } => {
            let _ = env.exception_clear();
            let kind = kind.java_name();
            if throw_stemsight(env, kind, &message).is_err() {
                let _ = env.exception_clear();
                let _ = env.throw_new("java/lang/RuntimeException", format!("{kind}: {message}"));
            }
        }
    }
}

fn throw_stemsight(env: &mut JNIEnv, kind: &str, message: &str) -> jni::errors::Result<()> {
    let kind = env.new_string(kind)?;
    let message = env.new_string(message)?;
    let exception = env.new_object(
        EXCEPTION_CLASS,
        "(Ljava/lang/String;Ljava/lang/String;)V",
        &[JValue::Object(&kind), JValue::Object(&message)],
    )?;
    env.throw(JThrowable::from(exception))
}

/// Every kind name the binding throws, engine's first, as JNI `limits()` exports them:
/// `(error_kinds, binding_kinds)`.
pub(super) fn kind_names() -> (Vec<&'static str>, Vec<&'static str>) {
    (
        ErrorKind::ALL.iter().map(|k| k.name()).collect(),
        ExceptionKind::BINDING
            .iter()
            .map(|k| k.java_name())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_kind() {
        for kind in ErrorKind::ALL {
            let failure = Failure::from(Error::new(kind, "x"));
            assert_eq!(failure.kind(), Some(ExceptionKind::Error(kind)));
            assert_eq!(ExceptionKind::Error(kind).java_name(), kind.name());
        }
        let (engine, binding) = kind_names();
        assert_eq!(engine.len(), ErrorKind::ALL.len());
        assert_eq!(binding, ["Panic", "Jni", "Engine"]);
        assert!(binding.iter().all(|b| !engine.contains(b)));
    }

    #[test]
    fn panics_become_panic_failures() {
        let payload: Box<dyn Any + Send> = Box::new("boom");
        let failure = panicked(payload.as_ref());
        assert_eq!(failure.kind(), Some(ExceptionKind::Panic));
        assert!(format!("{failure:?}").contains("boom"));
    }
}
