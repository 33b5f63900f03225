//! Writing result folders: an analysis (`report.json`, CSVs, maps, overlay; beyond the
//! contract also `polymorph_probability.tif`, the arg-max class's probability) and
//! a simulation (`image.tif`, `truth.json`, `polymorph.tif`, `carbon.tif`).
//!
//! `report.json` is written last, through a temporary file and a rename, so a
//! folder with a report is always complete: an interrupted batch can be resumed
//! by skipping inputs whose report exists, and nothing half-written is mistaken
//! for a result.

use crate::analyze::Analysis;
use crate::error::{Error, Result};
use crate::io;
use crate::overlay;
use crate::sim::Sample;
use std::path::Path;

/// Writes every output of one analysis into `dir` (created if needed).
pub fn write_analysis(dir: &Path, analysis: &Analysis, image: &[f32]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let r = &analysis.report;
    let (w, h) = (analysis.width, analysis.height);
    let px = Some(r.image.pixel_size_angstrom);
    write_text(&dir.join("atoms.csv"), &r.atoms_csv())?;
    write_text(&dir.join("vacancies.csv"), &r.vacancies_csv())?;
    // The maps and the overlay are independent files: write them side by side.
    let (maps, overlay) = rayon::join(
        || -> Result<()> {
            io::tiff::write_u8(
                &dir.join("polymorph.tif"),
                w,
                h,
                &analysis.polymorph_map,
                px,
            )?;
            io::tiff::write_f32(
                &dir.join("polymorph_probability.tif"),
                w,
                h,
                &analysis.polymorph_probability,
                px,
            )?;
            io::tiff::write_f32(&dir.join("carbon.tif"), w, h, &analysis.carbon_map, px)
        },
        || {
            let canvas = overlay::render(
                image,
                w,
                h,
                r,
                &analysis.polymorph_map,
                &analysis.carbon_map,
            );
            io::png::write(&dir.join("overlay.png"), w, h, 3, &canvas.rgb)
        },
    );
    maps?;
    overlay?;
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::io(dir, e))?;
    let tmp = dir.join("report.json.partial");
    write_text(&tmp, &json)?;
    std::fs::rename(&tmp, dir.join("report.json")).map_err(|e| Error::io(dir, e))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes a simulation in the `stemsight simulate` layout (CONTRACT.md).
pub fn write_simulation(out: &Path, s: &Sample, png: bool) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (w, h) = (s.image.width, s.image.height);
    let px = s.image.pixel_size_angstrom;
    io::tiff::write_f32(&out.join("image.tif"), w, h, &s.image.data, px)?;
    io::tiff::write_u8(&out.join("polymorph.tif"), w, h, &s.polymorph_map, px)?;
    io::tiff::write_f32(&out.join("carbon.tif"), w, h, &s.carbon_map, px)?;
    let truth = serde_json::to_string_pretty(&s.truth()).map_err(|e| Error::io(out, e))?;
    write_text(&out.join("truth.json"), &truth)?;
    if png {
        io::png::write(
            &out.join("image.png"),
            w,
            h,
            1,
            &io::png::to_display_bytes(&s.image.data),
        )?;
    }
    Ok(())
}
