//! The options JSON Java passes with an analysis: the engine's settings, the
//! calibration choice, and where the image came from, read and checked before any work.

use super::errors::{Failure, JResult};
use crate::analysis::localize::Refinement;
use crate::analysis::{Exposure, Options, PixelSizeSource, Source, Tasks};
use crate::crystal::{Chemistry, Polymorph};
use crate::io::Acquisition;
use serde::Deserialize;

/// Options as JSON from Java; every field optional, unknown fields refused (typos surface).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct JavaOptions {
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
    /// The polymorphs the specimen can hold, comma-separated ("" or absent: all six).
    polymorphs: Option<String>,
    /// Incident dose (e⁻/Å²) of an image in detected electrons: the 2H layer count is then
    /// read from its absolute signal; the optics below override the file's.
    dose_e_per_a2: Option<f64>,
    kv: Option<f64>,
    convergence_mrad: Option<f64>,
    detector_inner_mrad: Option<f64>,
    detector_outer_mrad: Option<f64>,
    /// Measure the pixel size on the image's own lattice (needs `chemistry`); the pixel
    /// size passed is then ignored.
    calibrate_from_lattice: Option<bool>,
    /// Where the pixels came from, for report.image (the engine sees only pixels).
    image_path: Option<String>,
    /// "argument" (the default), "file" or "calibration"; with `calibrate_from_lattice`
    /// it is "lattice", whatever this says.
    pixel_size_source: Option<String>,
    frame: Option<usize>,
    frames: Option<usize>,
    /// What the file said about the acquisition (as `readImage` returned it).
    acquisition: Option<Acquisition>,
}

/// What one analysis call asks for.
pub(super) struct Request {
    pub(super) options: Options,
    /// The chemistry to calibrate from when the pixel size is measured on the lattice.
    pub(super) lattice: Option<Chemistry>,
    pub(super) source: Source,
}

impl JavaOptions {
    /// The options of `json` ("" for the defaults); unknown fields are refused.
    pub(super) fn parse(json: &str) -> JResult<JavaOptions> {
        if json.trim().is_empty() {
            return Ok(JavaOptions::default());
        }
        serde_json::from_str(json).map_err(|e| Failure::invalid(format!("invalid options: {e}")))
    }

    /// The request, every value checked against its range; `reader_warnings` join the
    /// report's warnings.
    pub(super) fn request(&self, reader_warnings: Vec<String>) -> JResult<Request> {
        let options = self.engine_options()?;
        let lattice = self.lattice_calibration()?;
        let named = self.pixel_size_source.as_deref().filter(|s| !s.is_empty());
        let pixel_size_source = match (lattice, named) {
            (Some(_), _) => PixelSizeSource::Lattice,
            (None, None) => PixelSizeSource::Argument,
            (None, Some(name)) => PixelSizeSource::from_name(name).ok_or_else(|| {
                Failure::invalid(format!(
                    "unknown pixel_size_source '{name}' (argument, file, calibration or lattice)"
                ))
            })?,
        };
        Ok(Request {
            options,
            lattice,
            source: Source {
                path: self.image_path.clone().unwrap_or_default(),
                pixel_size_source,
                frame: self.frame.unwrap_or(0),
                frames: self.frames.unwrap_or(1),
                acquisition: self.acquisition.clone().unwrap_or_default(),
                reader_warnings,
            },
        })
    }

    fn engine_options(&self) -> JResult<Options> {
        let d = Options::default();
        let tasks = match &self.tasks {
            Some(t) => Tasks::parse(t)?,
            None => Tasks::default(),
        };
        let refinement = match &self.refinement {
            Some(r) => r.parse::<Refinement>().map_err(Failure::invalid)?,
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
            polymorphs: Polymorph::parse_list(self.polymorphs.as_deref().unwrap_or(""))
                .map_err(Failure::invalid)?,
            exposure: Exposure {
                dose_e_per_a2: self.dose_e_per_a2,
                kv: self.kv,
                convergence_mrad: self.convergence_mrad,
                detector_mrad: match (self.detector_inner_mrad, self.detector_outer_mrad) {
                    (Some(inner), Some(outer)) => Some((inner, outer)),
                    (None, None) => None,
                    _ => {
                        return Err(Failure::invalid(
                            "detector_inner_mrad and detector_outer_mrad go together",
                        ))
                    }
                },
            },
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
                    Failure::invalid(format!(
                        "unknown chemistry '{c}' (expected MoS2, WS2, MoSe2 or WSe2)"
                    ))
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
            None => Err(Failure::invalid(
                "calibrating from the lattice needs the chemistry (MoS2, WS2, MoSe2 or WSe2)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::jni::errors::ExceptionKind;

    fn request(json: &str) -> JResult<Request> {
        JavaOptions::parse(json)?.request(Vec::new())
    }

    #[test]
    fn options_default_and_typos() {
        let o = request("").ok().unwrap().options;
        assert!(o.tasks.atoms && o.tasks.carbon);
        let o = request(r#"{"tasks":"atoms","carbon_filter":false}"#)
            .ok()
            .unwrap()
            .options;
        assert!(o.tasks.atoms && !o.tasks.vacancies && !o.carbon_filter);
        assert!(JavaOptions::parse(r#"{"task":"atoms"}"#).is_err());
        assert!(request(r#"{"tasks":"atom"}"#).is_err());
        let r = request(r#"{"chemistry":"wse2","calibrate_from_lattice":true}"#)
            .ok()
            .unwrap();
        assert_eq!(r.options.chemistry, Some(Chemistry::WSe2));
        assert_eq!(r.lattice, Some(Chemistry::WSe2));
        assert_eq!(r.source.pixel_size_source, PixelSizeSource::Lattice);
        assert!(request(r#"{"calibrate_from_lattice":true}"#).is_err());
        assert!(request(r#"{"chemistry":"graphene"}"#).is_err());
        let r = request(r#"{"polymorphs":"2H-1L, 1t"}"#).unwrap_or_else(|_| panic!("valid"));
        assert_eq!(r.options.polymorphs, vec![Polymorph::H2Mono, Polymorph::T1]);
        assert!(request(r#"{"polymorphs":"2H-4L"}"#).is_err());
        assert!(request(r#"{"polymorphs":"2H-1L,2H-1L"}"#).is_err());
        // Out-of-range values are refused where the options are built, before any work.
        for bad in [
            r#"{"carbon_smoothing_a":1e9}"#,
            r#"{"polymorph_smoothing_a":-1}"#,
            r#"{"atom_threshold":2}"#,
            r#"{"tasks":","}"#,
            r#"{"pixel_size_source":"guess"}"#,
        ] {
            let e = request(bad).err().unwrap();
            assert_eq!(
                e.kind(),
                Some(ExceptionKind::Error(ErrorKind::InvalidParameter)),
                "{bad}: {e:?}"
            );
        }
    }

    #[test]
    fn the_source_is_read() {
        let r = request("").ok().unwrap();
        assert_eq!(r.source, Source::default());
        let r = JavaOptions::parse(
            r#"{"image_path":"a.emd","pixel_size_source":"file","frame":1,"frames":2,
                "acquisition":{"voltage_kv":80.0,"detector":"ADF1"}}"#,
        )
        .ok()
        .unwrap()
        .request(vec!["two detectors".to_string()])
        .ok()
        .unwrap();
        let s = &r.source;
        assert_eq!(
            (s.path.as_str(), s.pixel_size_source),
            ("a.emd", PixelSizeSource::File)
        );
        assert_eq!((s.frame, s.frames), (1, 2));
        assert_eq!(s.acquisition.voltage_kv, Some(80.0));
        assert_eq!(s.reader_warnings, ["two detectors"]);
    }
}
