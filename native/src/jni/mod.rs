//! JNI entry points for the Java binding `org.stemsight.NativeBridge` (java/), one
//! `Java_org_stemsight_NativeBridge_*` function per native method.
//!
//! No input can bring the JVM down: every entry point runs inside [`errors::guarded`],
//! which turns engine errors, JNI errors and panics into a Java
//! `org.stemsight.StemSightException(kind, message)`. Analyzers are handed out as
//! integer handles ([`handles`]); the options JSON is read by [`options`], arrays and
//! strings by [`arrays`]; an analysis runs on a worker thread while the calling Java
//! thread serves the progress listener ([`progress`]). `settings`, `limits`,
//! `angstromPerUnit`, `palette` and `findModels` hand Java the engine's own definitions,
//! so that the binding and the plugin keep no copies.

mod arrays;
mod errors;
mod handles;
mod options;
mod progress;

use crate::io::{read_image_with, ReadOptions};
use crate::nn::device::Device;
use arrays::*;
use errors::{guarded, kind_names, Failure};
use handles::{analyzer_for, find_models, load, note_for, release};
use jni::objects::{JByteArray, JClass, JFloatArray, JObject, JObjectArray, JString};
use jni::sys::{jdouble, jfloatArray, jint, jlong, jstring};
use jni::JNIEnv;
use progress::{run_analysis, JavaImage};
use std::path::{Path, PathBuf};

/// `static native long loadAnalyzer(String modelsDir)`: a handle for `analyze`;
/// the same directory always gives the same handle.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_loadAnalyzer<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    models_dir: JString<'local>,
) -> jlong {
    guarded(&mut env, 0, |env| {
        let dir = optional_string(env, &models_dir)?.unwrap_or_default();
        load(&dir, Device::Cpu)
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
        let dir = optional_string(env, &models_dir)?.unwrap_or_default();
        let device: Device = java_string(env, &device, "device")?.parse()?;
        load(&dir, device)
    })
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
        check_map_arrays(env, (width, height), &polymorph_out, &carbon_out)?;
        let input = JavaImage {
            pixels: &pixels,
            width,
            height,
            pixel_size,
        };
        let (analysis, _) = run_analysis(env, handle, input, &options_json, Vec::new(), &listener)?;
        write_maps(env, &analysis, &polymorph_out, &carbon_out)?;
        Ok(env.new_string(report_json(&analysis)?)?.into_raw())
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
        let detector = optional_string(env, &detector)?.filter(|d| !d.trim().is_empty());
        if info_out.is_null() || env.get_array_length(&info_out)? < 1 {
            return Err(Failure::invalid(
                "infoOut must be an array of at least one String",
            ));
        }
        let options = ReadOptions {
            detector,
            ..ReadOptions::default()
        };
        let loaded = read_image_with(Path::new(&path), &options)?;
        let out = frames_array(env, &path, &loaded)?;
        let first = &loaded.frames[0];
        let info = serde_json::json!({
            "width": first.width,
            "height": first.height,
            "frames": loaded.frames.len(),
            "pixel_size_angstrom": first.pixel_size_angstrom,
            "acquisition": loaded.acquisition,
            "warnings": loaded.warnings,
        });
        let text = env.new_string(info.to_string())?;
        env.set_object_array_element(&info_out, 0, text)?;
        Ok(out.into_raw())
    })
}

/// `static native String analyzeToFolder(long handle, float[] pixels, int width,
/// int height, double pixelSizeAngstrom, String optionsJson, ProgressListener listener,
/// String folder, String[] readerWarnings)`: as `analyze`, then writes the folder
/// `stemsight analyze` writes for one image (report.json, atoms.csv, vacancies.csv,
/// polymorph.tif, carbon.tif, overlay.png, …) atomically with `report::folder::write_analysis`;
/// `readerWarnings` (what the file reader said; may be null) follow the report's own
/// warnings, as in the CLI's reports. Returns report.json as a string.
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
        let reader_warnings = string_list(env, &reader_warnings)?;
        let input = JavaImage {
            pixels: &pixels,
            width,
            height,
            pixel_size,
        };
        let (analysis, image) = run_analysis(
            env,
            handle,
            input,
            &options_json,
            reader_warnings,
            &listener,
        )?;
        crate::report::folder::write_analysis(&folder, &analysis, &image.data)?;
        Ok(env.new_string(report_json(&analysis)?)?.into_raw())
    })
}

/// `static native String recoverLeftovers(String folder)`: finishes what interrupted
/// writes left in a results folder (`report::folder::recover_leftovers`, as the CLI does
/// at the start of a run); returns what could not be done, one line each ("" when nothing).
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_recoverLeftovers<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    folder: JString<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let folder = java_string(env, &folder, "folder")?;
        let problems = crate::report::folder::recover_leftovers(Path::new(&folder));
        Ok(env.new_string(problems.join("\n"))?.into_raw())
    })
}

/// `static native String settings()`: every analysis setting with its default as the
/// options JSON names it, and the numeric ranges (`analysis::settings`), so that the
/// Java binding and the plugin keep no copies.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_settings<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        Ok(env
            .new_string(crate::analysis::settings().to_string())?
            .into_raw())
    })
}

/// `static native String limits()`: what the engine accepts and throws, as JSON
/// `{"min_side": n, "pixel_size_range_angstrom": [lo, hi], "error_kinds": [...],
/// "binding_kinds": [...]}`: the plugin refuses an image before asking for settings, and
/// the binding's tests compare `StemSightException.Kind` with the kinds (the engine's
/// `ErrorKind`s in order, then the binding's own).
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_limits<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let (lo, hi) = crate::analysis::PIXEL_SIZE_RANGE;
        let (error_kinds, binding_kinds) = kind_names();
        let info = serde_json::json!({
            "min_side": crate::analysis::MIN_SIDE,
            "pixel_size_range_angstrom": [lo, hi],
            "error_kinds": error_kinds,
            "binding_kinds": binding_kinds,
        });
        Ok(env.new_string(info.to_string())?.into_raw())
    })
}

/// `static native double angstromPerUnit(String unit)`: how many Å one length unit is,
/// as the engine's readers understand units (`io::units`); NaN for a unit that is not a
/// length (e.g. "pixel") and for null.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_angstromPerUnit<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    unit: JString<'local>,
) -> jdouble {
    guarded(&mut env, f64::NAN, |env| {
        let unit = optional_string(env, &unit)?;
        Ok(unit
            .and_then(|u| crate::io::units::unit_to_angstrom(&u))
            .unwrap_or(f64::NAN))
    })
}

/// `static native String palette()`: the colours `overlay.png` is drawn in, as JSON
/// `{"metal": [r, g, b], "metal_chalcogen", "chalcogen", "vs1", "vs2", "excluded",
/// "polymorph": [[r, g, b] per class value]}`, so that the plugin draws the same.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_palette<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        use crate::report::overlay::{
            CHALCOGEN, EXCLUDED, METAL, METAL_CHALCOGEN, POLYMORPH_TINT, VS1, VS2,
        };
        let palette = serde_json::json!({
            "metal": METAL,
            "metal_chalcogen": METAL_CHALCOGEN,
            "chalcogen": CHALCOGEN,
            "vs1": VS1,
            "vs2": VS2,
            "excluded": EXCLUDED,
            "polymorph": POLYMORPH_TINT,
        });
        Ok(env.new_string(palette.to_string())?.into_raw())
    })
}

/// `static native String findModels(String[] candidates, String[] starts)`: the first
/// candidate folder that holds a model, else the repository's `models/` above the first
/// start folder that has one, as the CLI looks above its executable; "" when none.
#[no_mangle]
pub extern "system" fn Java_org_stemsight_NativeBridge_findModels<'local>(
    mut env: JNIEnv<'local>,
    _class: JClass<'local>,
    candidates: JObjectArray<'local>,
    starts: JObjectArray<'local>,
) -> jstring {
    guarded(&mut env, std::ptr::null_mut(), |env| {
        let candidates = string_list(env, &candidates)?;
        let starts = string_list(env, &starts)?;
        let found = find_models(&candidates, &starts)
            .map(|dir| dir.display().to_string())
            .unwrap_or_default();
        Ok(env.new_string(found)?.into_raw())
    })
}
