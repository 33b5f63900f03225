//! An analysis run for Java, with progress and cancellation.
//!
//! The analysis runs on a scoped worker thread while the calling Java thread waits for
//! progress messages and calls the Java listener itself. Java code is therefore only
//! ever entered on the thread that called us (no attaching of rayon threads, and
//! ImageJ's per-thread state stays valid). The engine's progress callback waits for the
//! listener's answer; `false`, or an exception thrown by the listener, cancels (the
//! exception is rethrown to the caller once the engine has stopped).

use super::arrays::{java_string, read_pixels};
use super::errors::{panicked, ExceptionKind, Failure, HeldThrowable, JResult};
use super::handles::analyzer_for;
use super::options::{JavaOptions, Request};
use crate::analysis::{Analysis, Analyzer};
use crate::image::Image;
use jni::objects::{JFloatArray, JObject, JString, JValue};
use jni::sys::{jdouble, jint, jlong};
use jni::JNIEnv;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Mutex;

/// Stack of the worker thread: generous, since Java threads may have small stacks.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// The image Java passed: its pixels, size and pixel size (Å).
pub(super) struct JavaImage<'a, 'local> {
    pub(super) pixels: &'a JFloatArray<'local>,
    pub(super) width: jint,
    pub(super) height: jint,
    pub(super) pixel_size: jdouble,
}

/// What `analyze` and `analyzeToFolder` share: the options read and checked (with
/// `reader_warnings` for the report), the pixels copied, and the analysis run with
/// the listener. Returns the analysis and the image analyzed.
pub(super) fn run_analysis(
    env: &mut JNIEnv,
    handle: jlong,
    input: JavaImage,
    options_json: &JString,
    reader_warnings: Vec<String>,
    listener: &JObject,
) -> JResult<(Analysis, Image)> {
    let analyzer = analyzer_for(handle)?;
    let json = if options_json.is_null() {
        String::new()
    } else {
        java_string(env, options_json, "options")?
    };
    let request = JavaOptions::parse(&json)?.request(reader_warnings)?;
    let data = read_pixels(env, input.pixels, input.width, input.height)?;
    let (w, h, pixel_size) = (
        input.width as usize,
        input.height as usize,
        input.pixel_size,
    );
    let image = Image::from_vec(w, h, Some(pixel_size), data);
    let analysis = run_with_progress(env, &analyzer, &image, pixel_size, &request, listener)?;
    Ok((analysis, image))
}

/// Calls `listener.progress(done, total)`; returns whether to go on, or the
/// listener's exception (held, so that further JNI calls can be made) when it threw.
fn call_listener(
    env: &mut JNIEnv,
    listener: &JObject,
    done: usize,
    total: usize,
) -> std::result::Result<bool, Option<HeldThrowable>> {
    let args = [
        JValue::Int(done.min(i32::MAX as usize) as jint),
        JValue::Int(total.min(i32::MAX as usize) as jint),
    ];
    match env
        .call_method(listener, "progress", "(II)Z", &args)
        .and_then(|v| v.z())
    {
        Ok(go_on) => Ok(go_on),
        Err(_) => {
            // Hold the listener's exception (or a new one) and rethrow it at the end;
            // no JNI call may be made while an exception is pending.
            let thrown = env.exception_occurred().ok().filter(|t| !t.is_null());
            let _ = env.exception_clear();
            Err(thrown
                .and_then(|t| env.new_global_ref(t).ok())
                .map(HeldThrowable))
        }
    }
}

/// Runs the analysis on a worker thread, relaying progress to `listener` on this thread.
/// Each progress call waits for the listener's answer, so a cancel takes effect at once
/// (even after the last tile).
fn run_with_progress(
    env: &mut JNIEnv,
    analyzer: &Analyzer,
    image: &Image,
    pixel_size: f64,
    request: &Request,
    listener: &JObject,
) -> JResult<Analysis> {
    let (request_tx, request_rx) = mpsc::channel::<(usize, usize)>();
    let (reply_tx, reply_rx) = mpsc::channel::<bool>();
    let mut listener_failed = false;
    let mut held: Option<HeldThrowable> = None;
    let outcome = std::thread::scope(|scope| {
        // One lock over send + receive keeps requests and replies paired.
        let link = Mutex::new((request_tx, reply_rx));
        let worker = std::thread::Builder::new()
            .name("stemsight-jni".to_string())
            .stack_size(WORKER_STACK_BYTES)
            .spawn_scoped(scope, move || {
                let progress = |done: usize, total: usize| {
                    let link = link.lock().unwrap_or_else(|p| p.into_inner());
                    link.0.send((done, total)).is_ok() && link.1.recv().unwrap_or(false)
                };
                catch_unwind(AssertUnwindSafe(|| {
                    analyze(analyzer, image, pixel_size, request, &progress)
                }))
            })
            .map_err(|e| {
                Failure::raise(
                    ExceptionKind::Engine,
                    format!("cannot start worker thread: {e}"),
                )
            })?;
        // The request channel closes when the worker (owning the sender) finishes.
        for (done, total) in request_rx.iter() {
            let go_on = if listener_failed {
                false
            } else if listener.is_null() {
                true
            } else {
                match call_listener(env, listener, done, total) {
                    Ok(go_on) => go_on,
                    Err(thrown) => {
                        listener_failed = true;
                        held = thrown;
                        false
                    }
                }
            };
            let _ = reply_tx.send(go_on);
        }
        match worker.join() {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(payload)) | Err(payload) => Err(panicked(payload.as_ref())),
        }
    })?;
    if listener_failed {
        return Err(Failure::Java(held));
    }
    Ok(outcome?)
}

/// The engine call the request asks for: at the pixel size given, or measured on the
/// image's own lattice.
fn analyze(
    analyzer: &Analyzer,
    image: &Image,
    pixel_size: f64,
    request: &Request,
    progress: &(dyn Fn(usize, usize) -> bool + Sync),
) -> crate::error::Result<Analysis> {
    let (source, options) = (&request.source, &request.options);
    match request.lattice {
        Some(chemistry) => {
            analyzer.analyze_self_calibrated(image, chemistry, source, options, progress)
        }
        None => analyzer.analyze(image, pixel_size, source, options, progress),
    }
}
