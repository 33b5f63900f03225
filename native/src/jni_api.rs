//! JNI entry points for the Java binding `org.stemsight.NativeBridge` (java/).
//!
//! Design, chosen so that no input can bring the JVM down:
//! - Analyzers are cached per models directory in a process-wide registry and handed
//!   to Java as small integer handles (not pointers), so a stale or forged handle is an
//!   exception, never a wild dereference.
//! - Every entry point runs inside `catch_unwind`; engine errors, JNI errors and panics
//!   all become a Java `org.stemsight.StemSightException(kind, message)`.
//! - The analysis runs on a scoped worker thread while the calling Java thread waits
//!   for progress messages and calls the Java listener itself. Java code is therefore
//!   only ever entered on the thread that called us (no attaching of rayon threads, and
//!   ImageJ's per-thread state stays valid). The engine's progress callback waits for the
//!   listener's answer; `false`, or an exception thrown by the listener, cancels (the
//!   exception is rethrown to the caller once the engine has stopped).

use crate::analyze::{Analyzer, Options, Tasks};
use crate::device::Device;
use crate::error::{Error, ErrorKind};
use crate::image::Image;
use crate::io::read::read_image_with;
use crate::io::{Acquisition, ReadOptions};
use crate::localize::Refinement;
use crate::sim::Chemistry;
use jni::objects::{
    AsJArrayRaw, GlobalRef, JByteArray, JClass, JFloatArray, JObject, JObjectArray, JString,
    JThrowable, JValue,
};
use jni::sys::{jdouble, jfloatArray, jint, jlong, jstring};
use jni::JNIEnv;
use serde::Deserialize;
use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};

/// Java class thrown for every failure.
const EXCEPTION_CLASS: &str = "org/stemsight/StemSightException";
/// Stack of the worker thread: generous, since Java threads may have small stacks.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// Loaded analyzers: handle `h` is `list[h - 1]`; `by_dir` avoids loading a directory twice.
#[derive(Default)]
struct Registry {
    /// Per handle − 1: the analyzer, `None` once every Java user has closed it (an
    /// analysis still running holds its own reference and finishes).
    list: Vec<Option<Arc<Analyzer>>>,
    /// Per analyzer: why it is not on the device asked for (empty when it is).
    notes: Vec<String>,
    /// Per analyzer: the Java `Analyzer` objects holding it open.
    users: Vec<usize>,
    by_dir: HashMap<(PathBuf, Device), jlong>,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// Why an entry point failed.
enum Failure {
    /// Reported as `StemSightException(kind, message)`.
    Raise { kind: String, message: String },
    /// A Java exception is pending (or held) already; let it propagate unchanged.
    Java(Option<JThrowableHolder>),
}

/// A Java throwable to rethrow once the engine has stopped (a global reference, so no
/// JNI frame lifetime has to be threaded through).
struct JThrowableHolder(GlobalRef);

type JResult<T> = std::result::Result<T, Failure>;

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Raise { kind, message } => write!(f, "{kind}: {message}"),
            Failure::Java(_) => f.write_str("Java exception"),
        }
    }
}

impl Failure {
    fn raise(kind: &str, message: impl Into<String>) -> Self {
        Failure::Raise {
            kind: kind.to_string(),
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::raise(&kind_name(&e.kind), e.to_string())
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        match e {
            jni::errors::Error::JavaException => Failure::Java(None),
            other => Failure::raise("Jni", format!("JNI call failed: {other}")),
        }
    }
}

/// The engine's error kind as the Java side names it (`StemSightException.getKind()`):
/// the variant name, e.g. "InvalidParameter", "Cancelled", "Model".
fn kind_name(kind: &ErrorKind) -> String {
    format!("{kind:?}")
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    format!("internal error in the StemSight engine: {text}")
}

/// Runs `body`, turning errors and panics into a pending Java exception and
/// returning `fallback` (which Java never sees, since an exception is pending).
fn guarded<'local, T>(
    env: &mut JNIEnv<'local>,
    fallback: T,
    body: impl FnOnce(&mut JNIEnv<'local>) -> JResult<T>,
) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&mut *env)));
    let failure = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::raise("Panic", panic_message(payload.as_ref())),
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
            if throw_stemsight(env, &kind, &message).is_err() {
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

fn java_string(env: &mut JNIEnv, s: &JString, what: &str) -> JResult<String> {
    if s.is_null() {
        return Err(Failure::raise(
            "InvalidParameter",
            format!("{what} is null"),
        ));
    }
    Ok(env.get_string(s)?.into())
}

/// Loads (or finds in the cache) the analyzer of a models directory (empty = default)
/// on `device`. Where CUDA cannot be used it runs on the CPU, and its note says why.
fn load(dir: &str, device: Device) -> JResult<jlong> {
    let dir = if dir.trim().is_empty() {
        crate::analyze::default_models_dir()
    } else {
        PathBuf::from(dir)
    };
    let key = (
        std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone()),
        device,
    );
    // Loading under the lock keeps two threads from loading the same model twice;
    // it takes a second and happens once per directory and device.
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(&handle) = reg.by_dir.get(&key) {
        reg.users[handle as usize - 1] += 1;
        return Ok(handle);
    }
    let mut analyzer = Analyzer::load(&dir)?;
    let note = match analyzer.use_device(device) {
        Ok(_) => String::new(),
        Err(why) => format!("CUDA unavailable ({why}); running on CPU"),
    };
    reg.list.push(Some(Arc::new(analyzer)));
    reg.notes.push(note);
    reg.users.push(1);
    let handle = reg.list.len() as jlong;
    reg.by_dir.insert(key, handle);
    Ok(handle)
}

fn note_for(handle: jlong) -> String {
    let reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    usize::try_from(handle)
        .ok()
        .and_then(|h| h.checked_sub(1))
        .and_then(|i| reg.notes.get(i).cloned())
        .unwrap_or_default()
}

fn analyzer_for(handle: jlong) -> JResult<Arc<Analyzer>> {
    let reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    usize::try_from(handle)
        .ok()
        .and_then(|h| h.checked_sub(1))
        .and_then(|i| reg.list.get(i).cloned().flatten())
        .ok_or_else(|| {
            Failure::raise(
                "InvalidParameter",
                format!("unknown or closed analyzer handle {handle}"),
            )
        })
}

/// One Java user less for `handle`; the last one frees the analyzer (its model and
/// plans) and the next load of that folder loads it afresh. Unknown handles and
/// repeated releases are ignored: closing twice is harmless.
fn release(handle: jlong) {
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    let Some(i) = usize::try_from(handle).ok().and_then(|h| h.checked_sub(1)) else {
        return;
    };
    if i >= reg.users.len() || reg.users[i] == 0 {
        return;
    }
    reg.users[i] -= 1;
    if reg.users[i] == 0 {
        reg.list[i] = None;
        reg.by_dir.retain(|_, &mut h| h != handle);
    }
}

/// Options as JSON from Java; every field optional, unknown fields refused (typos surface).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct JavaOptions {
    tasks: Option<String>,
    carbon_filter: Option<bool>,
    hollow_check: Option<bool>,
    carbon_threshold: Option<f64>,
    atom_threshold: Option<f32>,
    vacancy_threshold: Option<f32>,
    refinement: Option<String>,
    halo: Option<usize>,
    tile: Option<usize>,
    parallel_tiles: Option<bool>,
    line_correction: Option<bool>,
    polymorph_smoothing_a: Option<f64>,
    carbon_smoothing_a: Option<f64>,
    views: Option<usize>,
    /// MoS2, WS2, MoSe2 or WSe2: the lattice constant the calibration is checked against.
    chemistry: Option<String>,
    /// Measure the pixel size on the image's own lattice (needs `chemistry`); the pixel
    /// size passed is then ignored.
    calibrate_from_lattice: Option<bool>,
    /// Recorded in report.image (the engine does not know where the pixels came from).
    image_path: Option<String>,
    pixel_size_source: Option<String>,
    frame: Option<usize>,
    frames: Option<usize>,
    /// What the file said about the acquisition (as `readImage` returned it).
    acquisition: Option<Acquisition>,
}

impl JavaOptions {
    fn parse(json: &str) -> JResult<JavaOptions> {
        if json.trim().is_empty() {
            return Ok(JavaOptions::default());
        }
        serde_json::from_str(json)
            .map_err(|e| Failure::raise("InvalidParameter", format!("invalid options: {e}")))
    }

    fn engine_options(&self) -> JResult<Options> {
        let d = Options::default();
        let tasks = match &self.tasks {
            Some(t) => Tasks::parse(t)?,
            None => Tasks::default(),
        };
        let refinement = match &self.refinement {
            Some(r) => r
                .parse::<Refinement>()
                .map_err(|e| Failure::raise("InvalidParameter", e))?,
            None => d.refinement,
        };
        let options = Options {
            tasks,
            carbon_filter: self.carbon_filter.unwrap_or(d.carbon_filter),
            hollow_check: self.hollow_check.unwrap_or(d.hollow_check),
            carbon_threshold: self.carbon_threshold.unwrap_or(d.carbon_threshold),
            carbon_smoothing_a: self.carbon_smoothing_a.unwrap_or(d.carbon_smoothing_a),
            atom_threshold: self.atom_threshold.unwrap_or(d.atom_threshold),
            vacancy_threshold: self.vacancy_threshold.unwrap_or(d.vacancy_threshold),
            refinement,
            halo: self.halo.unwrap_or(d.halo),
            parallel_tiles: self.parallel_tiles.unwrap_or(d.parallel_tiles),
            tile: self.tile.or(d.tile),
            line_correction: self.line_correction.unwrap_or(d.line_correction),
            polymorph_smoothing_a: self
                .polymorph_smoothing_a
                .unwrap_or(d.polymorph_smoothing_a),
            views: self.views.unwrap_or(d.views),
            chemistry: self.chemistry()?,
        };
        options.validate()?;
        Ok(options)
    }

    fn chemistry(&self) -> JResult<Option<Chemistry>> {
        self.chemistry
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(|c| {
                Chemistry::from_name(c).ok_or_else(|| {
                    Failure::raise(
                        "InvalidParameter",
                        format!("unknown chemistry '{c}' (expected MoS2, WS2, MoSe2 or WSe2)"),
                    )
                })
            })
            .transpose()
    }

    /// The chemistry to calibrate from, when the pixel size is to be measured on the lattice.
    fn lattice_calibration(&self) -> JResult<Option<Chemistry>> {
        if !self.calibrate_from_lattice.unwrap_or(false) {
            return Ok(None);
        }
        match self.chemistry()? {
            Some(c) => Ok(Some(c)),
            None => Err(Failure::raise(
                "InvalidParameter",
                "calibrating from the lattice needs the chemistry (MoS2, WS2, MoSe2 or WSe2)",
            )),
        }
    }
}

/// Reads the Java pixel array, checking it against width × height.
fn read_pixels(
    env: &mut JNIEnv,
    pixels: &JFloatArray,
    width: jint,
    height: jint,
) -> JResult<Vec<f32>> {
    if pixels.is_null() {
        return Err(Failure::raise("InvalidParameter", "pixels is null"));
    }
    let len = env.get_array_length(pixels)?;
    let n = expected_len(width, height)?;
    if len as usize != n {
        return Err(Failure::raise(
            "InvalidParameter",
            format!("pixel array has {len} values but the image is {width}x{height}"),
        ));
    }
    let mut data = vec![0f32; n];
    env.get_float_array_region(pixels, 0, &mut data)?;
    Ok(data)
}

fn expected_len(width: jint, height: jint) -> JResult<usize> {
    if width <= 0 || height <= 0 {
        return Err(Failure::raise(
            "InvalidParameter",
            format!("image size {width}x{height} is not positive"),
        ));
    }
    (width as usize)
        .checked_mul(height as usize)
        .filter(|&n| n <= i32::MAX as usize)
        .ok_or_else(|| Failure::raise("InvalidParameter", "image too large"))
}

/// An optional output array must be null or exactly one value per pixel.
fn check_out_len(len: Option<i32>, n: usize, what: &str) -> JResult<()> {
    match len {
        Some(l) if l as usize != n => Err(Failure::raise(
            "InvalidParameter",
            format!("{what} has {l} elements, expected {n}"),
        )),
        _ => Ok(()),
    }
}

/// Calls `listener.progress(done, total)`; returns whether to go on.
fn call_listener(
    env: &mut JNIEnv,
    listener: &JObject,
    done: usize,
    total: usize,
) -> std::result::Result<bool, Option<JThrowableHolder>> {
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
                .map(JThrowableHolder))
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
    lattice: Option<Chemistry>,
    options: &Options,
    listener: &JObject,
) -> JResult<crate::analyze::Analysis> {
    let (request_tx, request_rx) = mpsc::channel::<(usize, usize)>();
    let (reply_tx, reply_rx) = mpsc::channel::<bool>();
    let mut listener_failed = false;
    let mut held: Option<JThrowableHolder> = None;
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
                catch_unwind(AssertUnwindSafe(|| match lattice {
                    Some(chemistry) => {
                        analyzer.analyze_self_calibrated(image, chemistry, options, &progress)
                    }
                    None => analyzer.analyze(image, pixel_size, options, &progress),
                }))
            })
            .map_err(|e| Failure::raise("Engine", format!("cannot start worker thread: {e}")))?;
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
            Ok(Err(payload)) | Err(payload) => {
                Err(Failure::raise("Panic", panic_message(payload.as_ref())))
            }
        }
    })?;
    if listener_failed {
        return Err(Failure::Java(held));
    }
    Ok(outcome?)
}

/// Writes the per-pixel maps into the optional Java arrays.
fn write_maps(
    env: &mut JNIEnv,
    analysis: &crate::analyze::Analysis,
    polymorph_out: &JByteArray,
    carbon_out: &JFloatArray,
) -> JResult<()> {
    if !polymorph_out.is_null() {
        let bytes: Vec<i8> = analysis.polymorph_map.iter().map(|&c| c as i8).collect();
        env.set_byte_array_region(polymorph_out, 0, &bytes)?;
    }
    if !carbon_out.is_null() {
        env.set_float_array_region(carbon_out, 0, &analysis.carbon_map)?;
    }
    Ok(())
}

/// `static native long loadAnalyzer(String modelsDir)`: a handle for `analyze`;
/// the same directory always gives the same handle.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_loadAnalyzer<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    models_dir: JString<'local>,
) -> jlong {
    guarded(&mut env, 0, |env| {
        load(&models_dir_of(env, &models_dir)?, Device::Cpu)
    })
}

/// The models folder Java passed; null means the default ("").
fn models_dir_of(env: &mut JNIEnv, models_dir: &JString) -> JResult<String> {
    if models_dir.is_null() {
        Ok(String::new())
    } else {
        java_string(env, models_dir, "modelsDir")
    }
}

/// `static native void releaseAnalyzer(long handle)`: the Java `Analyzer` holding
/// `handle` is closed ([`release`]).
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_releaseAnalyzer<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) {
    guarded(&mut env, (), |_| {
        release(handle);
        Ok(())
    })
}

/// `static native long loadAnalyzerOn(String modelsDir, String device)`: as
/// `loadAnalyzer`, on "cpu" or "cuda" (falls back to the CPU; `modelInfo` says why).
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_loadAnalyzerOn<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    models_dir: JString<'local>,
    device: JString<'local>,
) -> jlong {
    guarded(&mut env, 0, |env| {
        let dir = models_dir_of(env, &models_dir)?;
        let device: Device = java_string(env, &device, "device")?
            .parse()
            .map_err(|e: String| Failure::raise("InvalidParameter", e))?;
        load(&dir, device)
    })
}

/// `static native String modelInfo(long handle)`: the model card as JSON plus its folder.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_modelInfo<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let analyzer = analyzer_for(handle)?;
        let net = &analyzer.network;
        let info = serde_json::json!({
            "name": net.card.name,
            "sha256": net.card.sha256,
            "pixel_size_angstrom": net.card.pixel_size_angstrom,
            "tile": net.card.tile,
            "classes": net.card.classes,
            "dir": net.dir.display().to_string(),
            "device": net.device().to_string(),
            "device_note": note_for(handle),
        });
        Ok(env.new_string(info.to_string())?.into_raw())
    })
}

/// `static native String version()`: the engine's version.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_version<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        Ok(env.new_string(env!("CARGO_PKG_VERSION"))?.into_raw())
    })
}

/// What `analyze` and `analyzeToFolder` share: the options read and checked, the
/// pixels copied, the analysis run with the listener, and the image's provenance
/// (path, pixel-size source, acquisition, frame) set from the options. Returns the
/// analysis and the image analyzed.
fn analyze_call(
    env: &mut JNIEnv,
    handle: jlong,
    pixels: &JFloatArray,
    (width, height, pixel_size): (jint, jint, jdouble),
    options_json: &JString,
    listener: &JObject,
) -> JResult<(crate::analyze::Analysis, Image)> {
    let analyzer = analyzer_for(handle)?;
    let json = if options_json.is_null() {
        String::new()
    } else {
        java_string(env, options_json, "options")?
    };
    let java_options = JavaOptions::parse(&json)?;
    let options = java_options.engine_options()?;
    let lattice = java_options.lattice_calibration()?;
    let data = read_pixels(env, pixels, width, height)?;
    let image = Image::from_vec(width as usize, height as usize, Some(pixel_size), data);
    let mut analysis = run_with_progress(
        env, &analyzer, &image, pixel_size, lattice, &options, listener,
    )?;
    let info = &mut analysis.report.image;
    info.path = java_options.image_path.clone().unwrap_or_default();
    if lattice.is_none() {
        info.pixel_size_source = java_options
            .pixel_size_source
            .clone()
            .unwrap_or_else(|| "argument".to_string());
    }
    info.acquisition = java_options.acquisition.clone().unwrap_or_default();
    info.frame = java_options.frame.unwrap_or(0);
    info.frames = java_options.frames.unwrap_or(1);
    Ok((analysis, image))
}

/// `static native String analyze(long handle, float[] pixels, int width, int height,
/// double pixelSizeAngstrom, String optionsJson, ProgressListener listener,
/// byte[] polymorphOut, float[] carbonOut)`: report.json as a string; the optional
/// arrays (null or width × height long) receive the polymorph and carbon maps.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_stemsight_NativeBridge_analyze<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    pixels: JFloatArray<'local>,
    width: jint,
    height: jint,
    pixel_size: jdouble,
    options_json: JString<'local>,
    listener: JObject<'local>,
    polymorph_out: JByteArray<'local>,
    carbon_out: JFloatArray<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let n = (width.max(0) as usize).saturating_mul(height.max(0) as usize);
        let poly_len = nullable_len(env, &polymorph_out)?;
        check_out_len(poly_len, n, "polymorphOut")?;
        let carbon_len = nullable_len(env, &carbon_out)?;
        check_out_len(carbon_len, n, "carbonOut")?;
        let (analysis, _) = analyze_call(
            env,
            handle,
            &pixels,
            (width, height, pixel_size),
            &options_json,
            &listener,
        )?;
        write_maps(env, &analysis, &polymorph_out, &carbon_out)?;
        let report = serde_json::to_string(&analysis.report)
            .map_err(|e| Failure::raise("Engine", format!("cannot serialize the report: {e}")))?;
        Ok(env.new_string(report)?.into_raw())
    })
}

/// `static native float[] readImage(String path, String detector, String[] infoOut)`:
/// every frame of a microscope file (TIFF, PNG, EMD, DM3/DM4, SER/EMI, MRC) read by the
/// engine's readers, one after the other (frame k at k × width × height); `infoOut[0]`
/// receives `{"width","height","frames","pixel_size_angstrom","acquisition","warnings"}`.
/// `detector` (null or empty: the HAADF) picks one image of a multi-detector file.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_readImage<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    path: JString<'local>,
    detector: JString<'local>,
    info_out: JObjectArray<'local>,
) -> jfloatArray {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let path = java_string(env, &path, "path")?;
        let detector = if detector.is_null() {
            None
        } else {
            Some(java_string(env, &detector, "detector")?).filter(|d| !d.trim().is_empty())
        };
        if info_out.is_null() || env.get_array_length(&info_out)? < 1 {
            return Err(Failure::raise(
                "InvalidParameter",
                "infoOut must be an array of at least one String",
            ));
        }
        let options = ReadOptions {
            detector,
            ..ReadOptions::default()
        };
        let loaded = read_image_with(std::path::Path::new(&path), &options)?;
        let first = &loaded.frames[0];
        let (w, h) = (first.width, first.height);
        if loaded.frames.iter().any(|f| (f.width, f.height) != (w, h)) {
            return Err(Failure::raise(
                "Unsupported",
                format!("{path}: frames of different sizes cannot form one stack"),
            ));
        }
        let total = w * h * loaded.frames.len();
        let len = i32::try_from(total).map_err(|_| {
            Failure::raise(
                "Unsupported",
                format!("{path}: {total} pixels are more than one Java array holds"),
            )
        })?;
        let info = serde_json::json!({
            "width": w,
            "height": h,
            "frames": loaded.frames.len(),
            "pixel_size_angstrom": first.pixel_size_angstrom,
            "acquisition": loaded.acquisition,
            "warnings": loaded.warnings,
        });
        let text = env.new_string(info.to_string())?;
        env.set_object_array_element(&info_out, 0, text)?;
        let out = env.new_float_array(len)?;
        for (k, f) in loaded.frames.iter().enumerate() {
            env.set_float_array_region(&out, (k * w * h) as i32, &f.data)?;
        }
        Ok(out.into_raw())
    })
}

/// `static native String analyzeToFolder(long handle, float[] pixels, int width,
/// int height, double pixelSizeAngstrom, String optionsJson, ProgressListener listener,
/// String folder, String[] readerWarnings)`: as `analyze`, then writes the folder
/// `stemsight analyze` writes for one image (report.json, atoms.csv, vacancies.csv,
/// polymorph.tif, carbon.tif, overlay.png, …) atomically with `outputs::write_analysis`;
/// `readerWarnings` (what the file reader said; may be null) join the report's warnings,
/// as the CLI adds them. Returns report.json as a string.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "system" fn Java_org_stemsight_NativeBridge_analyzeToFolder<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    handle: jlong,
    pixels: JFloatArray<'local>,
    width: jint,
    height: jint,
    pixel_size: jdouble,
    options_json: JString<'local>,
    listener: JObject<'local>,
    folder: JString<'local>,
    reader_warnings: JObjectArray<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let folder = PathBuf::from(java_string(env, &folder, "folder")?);
        let (mut analysis, image) = analyze_call(
            env,
            handle,
            &pixels,
            (width, height, pixel_size),
            &options_json,
            &listener,
        )?;
        let report = &mut analysis.report;
        if !reader_warnings.is_null() {
            for k in 0..env.get_array_length(&reader_warnings)? {
                let item = JString::from(env.get_object_array_element(&reader_warnings, k)?);
                if !item.is_null() {
                    let text: String = env.get_string(&item)?.into();
                    report.warnings.push(text);
                }
            }
        }
        crate::outputs::write_analysis(&folder, &analysis, &image.data)?;
        let report = serde_json::to_string(&analysis.report)
            .map_err(|e| Failure::raise("Engine", format!("cannot serialize the report: {e}")))?;
        Ok(env.new_string(report)?.into_raw())
    })
}

/// `static native String recoverLeftovers(String folder)`: finishes what interrupted
/// writes left in a results folder (`outputs::recover_leftovers`, as the CLI does at the
/// start of a run); returns what could not be done, one line each ("" when nothing).
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_recoverLeftovers<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    folder: JString<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let folder = java_string(env, &folder, "folder")?;
        let problems = crate::outputs::recover_leftovers(std::path::Path::new(&folder));
        Ok(env.new_string(problems.join("\n"))?.into_raw())
    })
}

/// `static native String settings()`: every analysis setting with its default as the
/// options JSON names it, and the numeric ranges (`analyze::settings`), so that the
/// Java binding and the plugin keep no copies.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_settings<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        Ok(env
            .new_string(crate::analyze::settings().to_string())?
            .into_raw())
    })
}

/// `static native String limits()`: what the engine accepts, as JSON
/// `{"min_side": n, "pixel_size_range_angstrom": [lo, hi]}`, so that the plugin can
/// refuse an image before asking for settings.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_limits<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let (lo, hi) = crate::analyze::PIXEL_SIZE_RANGE;
        let info = serde_json::json!({
            "min_side": crate::analyze::MIN_SIDE,
            "pixel_size_range_angstrom": [lo, hi],
            "error_kinds": ErrorKind::ALL.iter().map(kind_name).collect::<Vec<_>>(),
        });
        Ok(env.new_string(info.to_string())?.into_raw())
    })
}

fn nullable_len<'a>(env: &mut JNIEnv, array: &impl AsJArrayRaw<'a>) -> JResult<Option<i32>> {
    if array.as_jarray_raw().is_null() {
        return Ok(None);
    }
    Ok(Some(env.get_array_length(array)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_and_typos() {
        let o = JavaOptions::parse("").unwrap().engine_options().unwrap();
        assert!(o.tasks.atoms && o.tasks.carbon);
        let o = JavaOptions::parse(r#"{"tasks":"atoms","carbon_filter":false}"#)
            .unwrap()
            .engine_options()
            .unwrap();
        assert!(o.tasks.atoms && !o.tasks.vacancies && !o.carbon_filter);
        assert!(JavaOptions::parse(r#"{"task":"atoms"}"#).is_err());
        assert!(JavaOptions::parse(r#"{"tasks":"atom"}"#)
            .unwrap()
            .engine_options()
            .is_err());
        let o =
            JavaOptions::parse(r#"{"chemistry":"wse2","calibrate_from_lattice":true}"#).unwrap();
        assert_eq!(o.engine_options().unwrap().chemistry, Some(Chemistry::WSe2));
        assert_eq!(
            o.lattice_calibration().ok().flatten(),
            Some(Chemistry::WSe2)
        );
        let o = JavaOptions::parse(r#"{"calibrate_from_lattice":true}"#).unwrap();
        assert!(o.lattice_calibration().is_err());
        let o = JavaOptions::parse(r#"{"chemistry":"graphene"}"#).unwrap();
        assert!(o.engine_options().is_err());
        // Out-of-range values are refused where the options are built, before any work.
        for bad in [
            r#"{"carbon_smoothing_a":1e9}"#,
            r#"{"polymorph_smoothing_a":-1}"#,
            r#"{"atom_threshold":2}"#,
            r#"{"tasks":","}"#,
        ] {
            let e = JavaOptions::parse(bad)
                .unwrap()
                .engine_options()
                .unwrap_err();
            assert!(
                matches!(e, Failure::Raise { ref kind, .. } if kind == "InvalidParameter"),
                "{bad}: {e:?}"
            );
        }
        let o =
            JavaOptions::parse(r#"{"acquisition":{"voltage_kv":80.0,"detector":"ADF1"}}"#).unwrap();
        assert_eq!(o.acquisition.unwrap().voltage_kv, Some(80.0));
    }

    #[test]
    fn sizes_are_checked() {
        assert!(expected_len(0, 5).is_err());
        assert!(expected_len(-3, 5).is_err());
        assert!(expected_len(i32::MAX, i32::MAX).is_err());
        assert_eq!(expected_len(4, 5).ok(), Some(20));
    }

    #[test]
    fn bad_handles_are_errors() {
        assert!(analyzer_for(0).is_err());
        assert!(analyzer_for(-1).is_err());
        assert!(analyzer_for(1 << 40).is_err());
    }

    #[test]
    fn missing_models_dir_is_an_error() {
        let e = load("/nonexistent/stemsight-models", Device::Cpu)
            .err()
            .unwrap();
        assert!(matches!(e, Failure::Raise { ref kind, .. } if kind == "Model"));
    }
}
