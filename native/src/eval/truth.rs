//! The truth a simulated folder carries, as eval reads it: `truth.json` in the
//! simulator's own types ([`crate::sim::Truth`]) and the class map `polymorph.tif`.

use crate::crystal::Polymorph;
use crate::error::Result;
use crate::io::read_image;
use std::path::Path;

pub(super) use crate::sim::Truth;

/// The polymorph that holds the vacancies (SCIENCE.md: VS1/VS2 in 2H monolayers).
pub(super) const MONOLAYER: Polymorph = Polymorph::H2Mono;

pub(super) fn read_u8_map(path: &Path) -> Result<(usize, usize, Vec<u8>)> {
    let loaded = read_image(path)?;
    let f = &loaded.frames[0];
    Ok((f.width, f.height, f.data.iter().map(|&v| v as u8).collect()))
}
