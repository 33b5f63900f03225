//! numpy `.npy` arrays for training shards.

use crate::error::{Error, Result};
use npyz::WriterBuilder;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Write a C-order array of shape `shape`.
pub fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
    path: &Path,
    shape: &[u64],
    data: &[T],
) -> Result<()> {
    let file = File::create(path).map_err(|e| Error::io(path, e))?;
    let mut out = BufWriter::new(file);
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut out)
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    w.extend(data.iter().copied())
        .map_err(|e| Error::io(path, e))?;
    w.finish().map_err(|e| Error::io(path, e))?;
    out.flush().map_err(|e| Error::io(path, e))
}
