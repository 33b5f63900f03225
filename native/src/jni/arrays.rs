//! Values crossing the JNI boundary: Java strings and string arrays read, the pixel
//! array copied in and checked against the image size, the maps copied out into
//! optional arrays, and a reader's frames handed back as one float array.

use super::errors::{ExceptionKind, Failure, JResult};
use crate::analysis::Analysis;
use crate::error::{Error, ErrorKind};
use crate::io::Loaded;
use jni::objects::{AsJArrayRaw, JByteArray, JFloatArray, JObjectArray, JString};
use jni::sys::jint;
use jni::JNIEnv;

/// The Java string `s`; null is an invalid parameter named `what`.
pub(super) fn java_string(env: &mut JNIEnv, s: &JString, what: &str) -> JResult<String> {
    if s.is_null() {
        return Err(Failure::invalid(format!("{what} is null")));
    }
    Ok(env.get_string(s)?.into())
}

/// The Java string `s`, or `None` for null.
pub(super) fn optional_string(env: &mut JNIEnv, s: &JString) -> JResult<Option<String>> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(env.get_string(s)?.into()))
}

/// The non-null strings of `array` (null: none).
pub(super) fn string_list(env: &mut JNIEnv, array: &JObjectArray) -> JResult<Vec<String>> {
    let mut list = Vec::new();
    if array.is_null() {
        return Ok(list);
    }
    for k in 0..env.get_array_length(array)? {
        let item = JString::from(env.get_object_array_element(array, k)?);
        list.extend(optional_string(env, &item)?);
    }
    Ok(list)
}

/// Reads the Java pixel array, checking it against width × height.
pub(super) fn read_pixels(
    env: &mut JNIEnv,
    pixels: &JFloatArray,
    width: jint,
    height: jint,
) -> JResult<Vec<f32>> {
    if pixels.is_null() {
        return Err(Failure::invalid("pixels is null"));
    }
    let len = env.get_array_length(pixels)?;
    let n = expected_len(width, height)?;
    if len as usize != n {
        return Err(Failure::invalid(format!(
            "pixel array has {len} values but the image is {width}x{height}"
        )));
    }
    let mut data = vec![0f32; n];
    env.get_float_array_region(pixels, 0, &mut data)?;
    Ok(data)
}

/// Pixels in a `width` × `height` image that one Java array can hold.
fn expected_len(width: jint, height: jint) -> JResult<usize> {
    if width <= 0 || height <= 0 {
        return Err(Failure::invalid(format!(
            "image size {width}x{height} is not positive"
        )));
    }
    (width as usize)
        .checked_mul(height as usize)
        .filter(|&n| n <= i32::MAX as usize)
        .ok_or_else(|| Failure::invalid("image too large"))
}

/// Checks the optional map arrays before any work: each null, or one value per pixel.
pub(super) fn check_map_arrays(
    env: &mut JNIEnv,
    (width, height): (jint, jint),
    polymorph_out: &JByteArray,
    carbon_out: &JFloatArray,
) -> JResult<()> {
    let n = (width.max(0) as usize).saturating_mul(height.max(0) as usize);
    check_out_len(nullable_len(env, polymorph_out)?, n, "polymorphOut")?;
    check_out_len(nullable_len(env, carbon_out)?, n, "carbonOut")
}

fn nullable_len<'a>(env: &mut JNIEnv, array: &impl AsJArrayRaw<'a>) -> JResult<Option<i32>> {
    if array.as_jarray_raw().is_null() {
        return Ok(None);
    }
    Ok(Some(env.get_array_length(array)?))
}

/// An optional output array must be null or exactly one value per pixel.
fn check_out_len(len: Option<i32>, n: usize, what: &str) -> JResult<()> {
    match len {
        Some(l) if l as usize != n => Err(Failure::invalid(format!(
            "{what} has {l} elements, expected {n}"
        ))),
        _ => Ok(()),
    }
}

/// Writes the per-pixel maps into the optional Java arrays.
pub(super) fn write_maps(
    env: &mut JNIEnv,
    analysis: &Analysis,
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

/// Every frame of `loaded`, one after the other (frame k at k × width × height), as
/// one Java float array; frames of different sizes, or more pixels than one Java
/// array holds, are unsupported.
pub(super) fn frames_array<'local>(
    env: &mut JNIEnv<'local>,
    path: &str,
    loaded: &Loaded,
) -> JResult<JFloatArray<'local>> {
    let first = &loaded.frames[0];
    let (w, h) = (first.width, first.height);
    let unsupported = |message: String| Error::new(ErrorKind::Unsupported, message);
    if loaded.frames.iter().any(|f| (f.width, f.height) != (w, h)) {
        return Err(unsupported(format!(
            "{path}: frames of different sizes cannot form one stack"
        ))
        .into());
    }
    let total = w * h * loaded.frames.len();
    let len = i32::try_from(total).map_err(|_| {
        unsupported(format!(
            "{path}: {total} pixels are more than one Java array holds"
        ))
    })?;
    let out = env.new_float_array(len)?;
    for (k, f) in loaded.frames.iter().enumerate() {
        env.set_float_array_region(&out, (k * w * h) as i32, &f.data)?;
    }
    Ok(out)
}

/// Serializes the report for Java; a failure is the binding's own.
pub(super) fn report_json(analysis: &Analysis) -> JResult<String> {
    serde_json::to_string(&analysis.report).map_err(|e| {
        Failure::raise(
            ExceptionKind::Engine,
            format!("cannot serialize the report: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        assert!(expected_len(0, 5).is_err());
        assert!(expected_len(-3, 5).is_err());
        assert!(expected_len(i32::MAX, i32::MAX).is_err());
        assert_eq!(expected_len(4, 5).ok(), Some(20));
        assert!(check_out_len(Some(19), 20, "carbonOut").is_err());
        assert!(check_out_len(Some(20), 20, "carbonOut").is_ok());
        assert!(check_out_len(None, 20, "carbonOut").is_ok());
    }
}
