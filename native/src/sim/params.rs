//! What a simulation asks for ([`SimRequest`]) and every physical value it then draws
//! ([`SimParams`]), with the realistic ranges the draws come from.
//!
//! Ranges (uniform unless said otherwise), chosen for aberration-corrected 60–100 kV
//! STEM of 2D materials:
//! - optics: 60/80/100 kV, convergence 20–32 mrad (nominal 80 kV, 23 mrad);
//!   C1 ~ N(0, 12 Å) clipped to ±30 Å; C3 ±2 µm; A1 0–15 Å; B2 0–300 Å; A2 0–300 Å
//!   (each below ~π/4 of phase at the aperture edge, i.e. a tuned corrector);
//!   source FWHM 0.3–0.7 Å; chromatic focal spread σ 10–40 Å.
//! - contrast: the column response fitted to frozen-phonon multislice ([`super::response`])
//!   at the drawn voltage, convergence and annular detector: inner angle 35–100 mrad, outer
//!   150–250 mrad, or where asked a low-angle detector (inner 25–40 mrad and at least 5 mrad
//!   outside the bright-field disk, outer 60–120 mrad); the
//!   specimen lies either face up (beam order reversed, which matters for 3R stacks); a
//!   ±10 % (log-uniform) factor per metal and chalcogen for what the library does not vary
//!   (tilt, thermal displacements); detector efficiency 0.3–1.0.
//! - dose: as requested (e⁻/Å²); carbon: patches 42–60 Å × level thick, patch cover
//!   30–85 %, correlation 10–40 Å, thin uniform film 0–4 Å × level. (20 Å patches were
//!   invisible after normalization — a network cannot learn to map them — while real
//!   contamination, as in ../shared/data/real/ws2, is plainly visible: tens of Å.)
//! - scan noise level s: jitter σx = 0.35 Å·s, σy = 0.12 Å·s, drift up to ±1.5 Å·s over
//!   the frame per axis, flyback amplitude up to 0.6 Å·s decaying over 10–40 px.
//! - detector: gain 0.2–5, offset 0–20 counts·gain, readout σ 0–1.5 counts;
//!   display: contrast 0.7–1.4, brightness ±0.1, gamma 0.8–1.25; background gradient
//!   up to 30 % of the mean signal.

use super::noise::DetectorParams;
use super::probe::ProbeParams;
use super::response::Response;
use super::scan::ScanParams;
use crate::crystal::{Chemistry, Polymorph, LATTICE_A_ANGSTROM};
use crate::error::{Error, Result};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Shape of the boundary between two polymorphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BoundaryShape {
    Straight,
    Irregular,
    /// Either, at random.
    #[default]
    Random,
}

/// The knobs a user or a dataset config sets; everything else is drawn at random.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimRequest {
    pub polymorph: Polymorph,
    pub second_polymorph: Option<Polymorph>,
    pub boundary: BoundaryShape,
    pub width: usize,
    pub height: usize,
    pub pixel_size_angstrom: f64,
    /// In-plane rotation; random when absent.
    pub rotation_deg: Option<f64>,
    /// Maximum |strain| component (e.g. 0.02 for ±2 %).
    pub strain: f64,
    pub vs1_fraction: f64,
    pub vs2_fraction: f64,
    pub mo_vacancy_fraction: f64,
    pub adatoms_per_nm2: f64,
    /// Fraction of the field of view that is vacuum (holes).
    pub hole_fraction: f64,
    pub dose_e_per_angstrom2: f64,
    /// Amorphous-carbon level 0..1 (1 ≈ patches up to 60 Å thick).
    pub carbon: f64,
    /// Scan-noise level 0..1.
    pub scan_noise: f64,
    /// No degradations and nominal, aberration-free optics: for physics tests.
    pub clean: bool,
    /// Which TMD (MoS₂ unless asked).
    pub chemistry: Chemistry,
    /// Record with a low-angle annular detector ([`LOW_ANGLE_ADF_MRAD`]) instead of a
    /// high-angle one (inner 35–100 mrad).
    pub low_angle_adf: bool,
}

impl Default for SimRequest {
    fn default() -> Self {
        SimRequest {
            polymorph: Polymorph::H2Mono,
            second_polymorph: None,
            boundary: BoundaryShape::Random,
            width: 256,
            height: 256,
            pixel_size_angstrom: 0.1,
            rotation_deg: None,
            strain: 0.0,
            vs1_fraction: 0.03,
            vs2_fraction: 0.01,
            mo_vacancy_fraction: 0.0,
            adatoms_per_nm2: 0.0,
            hole_fraction: 0.0,
            dose_e_per_angstrom2: 1e5,
            carbon: 0.0,
            scan_noise: 0.0,
            clean: false,
            chemistry: Chemistry::MoS2,
            low_angle_adf: false,
        }
    }
}

impl SimRequest {
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "{name} must be within 0..1, got {v}"
                )))
            }
        };
        if !(8..=8192).contains(&self.width) || !(8..=8192).contains(&self.height) {
            return Err(Error::invalid(format!(
                "image size must be 8..8192 pixels per side, got {}×{}",
                self.width, self.height
            )));
        }
        if !(self.pixel_size_angstrom.is_finite()
            && (0.02..=1.0).contains(&self.pixel_size_angstrom))
        {
            return Err(Error::invalid(format!(
                "pixel size must be 0.02..1.0 Å, got {}",
                self.pixel_size_angstrom
            )));
        }
        if !(self.dose_e_per_angstrom2.is_finite() && self.dose_e_per_angstrom2 > 0.0) {
            return Err(Error::invalid("dose must be a positive number of e⁻/Å²"));
        }
        if !(0.0..=0.1).contains(&self.strain) {
            return Err(Error::invalid("strain must be within 0..0.1"));
        }
        unit("vs1 fraction", self.vs1_fraction)?;
        unit("vs2 fraction", self.vs2_fraction)?;
        unit("vs1 + vs2 fraction", self.vs1_fraction + self.vs2_fraction)?;
        unit("Mo vacancy fraction", self.mo_vacancy_fraction)?;
        unit("hole fraction", self.hole_fraction)?;
        unit("carbon level", self.carbon)?;
        unit("scan noise", self.scan_noise)?;
        if !(self.adatoms_per_nm2.is_finite() && self.adatoms_per_nm2 >= 0.0) {
            return Err(Error::invalid("adatom density must be ≥ 0"));
        }
        if let Some(r) = self.rotation_deg {
            if !r.is_finite() {
                return Err(Error::invalid("rotation must be finite"));
            }
        }
        Ok(())
    }
}

/// A boundary between the first and second polymorph: the second lies where
/// (p − point)·n + irregularity·field(p) > 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundaryParams {
    pub point_angstrom: [f64; 2],
    pub normal_angle_rad: f64,
    pub irregularity_angstrom: f64,
    pub correlation_angstrom: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CarbonParams {
    pub level: f64,
    pub max_thickness_angstrom: f64,
    pub film_thickness_angstrom: f64,
    pub coverage: f64,
    pub correlation_angstrom: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BackgroundParams {
    /// Gradient amplitude relative to the mean signal.
    pub amplitude: f64,
    pub angle_rad: f64,
    /// Quadratic (bowl) term relative to the mean signal.
    pub curvature: f64,
}

/// Every value that decides the image, so a sample can be reproduced and studied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimParams {
    pub width: usize,
    pub height: usize,
    pub pixel_size_angstrom: f64,
    pub clean: bool,
    pub polymorph: Polymorph,
    pub second_polymorph: Option<Polymorph>,
    pub boundary: Option<BoundaryParams>,
    /// Older truth files have no chemistry: they are MoS₂.
    #[serde(default)]
    pub chemistry: Chemistry,
    pub lattice_a_angstrom: f64,
    pub strain: [f64; 3],
    pub rotation_deg: f64,
    pub origin_angstrom: [f64; 2],
    pub vs1_fraction: f64,
    pub vs2_fraction: f64,
    pub mo_vacancy_fraction: f64,
    pub adatoms_per_nm2: f64,
    pub hole_fraction: f64,
    pub hole_correlation_angstrom: f64,
    pub probe: ProbeParams,
    /// Annular detector collection angles (mrad).
    #[serde(default = "nominal_adf_inner")]
    pub adf_inner_mrad: f64,
    #[serde(default = "nominal_adf_outer")]
    pub adf_outer_mrad: f64,
    /// The beam enters through the bottom layer instead of the top one.
    #[serde(default)]
    pub specimen_flipped: bool,
    /// Factors on the metal and the chalcogen signal beyond the fitted response.
    #[serde(default = "no_jitter")]
    pub contrast_jitter: [f64; 2],
    pub detector_efficiency: f64,
    pub dose_e_per_angstrom2: f64,
    pub carbon: CarbonParams,
    pub scan: ScanParams,
    pub background: BackgroundParams,
    pub detector: DetectorParams,
}

/// The seed paper's annular detector (SCIENCE §1), mrad.
pub const NOMINAL_ADF_MRAD: [f64; 2] = [40.0, 160.0];

/// Ranges (mrad) of a low-angle annular detector's inner and outer edges: the lower
/// detector of a two-detector recording, where WSe₂'s Se₂ outshines W (multislice, 80 kV,
/// 23 mrad: Se₂/W 1.34 at 25–100 mrad, 0.94 at 40–200; a JEOL pair in shared/data/real
/// shows both). The response is fitted at 25–100 and 35–100 mrad.
pub const LOW_ANGLE_ADF_MRAD: [[f64; 2]; 2] = [[25.0, 40.0], [60.0, 120.0]];

/// An annular detector starts at least this far (mrad) outside the probe's bright-field
/// disk (its convergence semi-angle) to see dark field only.
pub const BRIGHT_FIELD_MARGIN_MRAD: f64 = 5.0;

fn nominal_adf_inner() -> f64 {
    NOMINAL_ADF_MRAD[0]
}

fn nominal_adf_outer() -> f64 {
    NOMINAL_ADF_MRAD[1]
}

fn no_jitter() -> [f64; 2] {
    [1.0, 1.0]
}

impl SimParams {
    /// Draw every random value for `req`.
    pub fn draw<R: Rng>(req: &SimRequest, rng: &mut R) -> SimParams {
        let px = req.pixel_size_angstrom;
        let fov = [req.width as f64 * px, req.height as f64 * px];
        let clean = req.clean;
        let mut u = |lo: f64, hi: f64| rng.gen_range(lo..=hi);
        let rotation_deg = req.rotation_deg.unwrap_or_else(|| u(0.0, 360.0));
        let strain = [
            u(-1.0, 1.0) * req.strain,
            u(-1.0, 1.0) * req.strain,
            u(-0.5, 0.5) * req.strain,
        ];
        let origin_angstrom = [u(0.0, LATTICE_A_ANGSTROM), u(0.0, LATTICE_A_ANGSTROM)];
        let boundary = req.second_polymorph.map(|_| {
            let irregular = match req.boundary {
                BoundaryShape::Straight => false,
                BoundaryShape::Irregular => true,
                BoundaryShape::Random => u(0.0, 1.0) < 0.5,
            };
            BoundaryParams {
                point_angstrom: [fov[0] * u(0.3, 0.7), fov[1] * u(0.3, 0.7)],
                normal_angle_rad: u(0.0, std::f64::consts::TAU),
                irregularity_angstrom: if irregular { u(3.0, 10.0) } else { 0.0 },
                correlation_angstrom: u(8.0, 25.0),
            }
        });
        let probe = if clean {
            ProbeParams::nominal()
        } else {
            let energy_kv = [60.0, 80.0, 100.0][rng.gen_range(0..3)];
            let c1: f64 = Normal::new(0.0, 12.0).unwrap().sample(rng);
            let c1 = c1.clamp(-30.0, 30.0);
            let mut u = |lo: f64, hi: f64| rng.gen_range(lo..=hi);
            ProbeParams {
                energy_kv,
                convergence_mrad: u(20.0, 32.0),
                c1_angstrom: c1,
                c3_angstrom: u(-2e4, 2e4),
                a1_angstrom: u(0.0, 15.0),
                a1_angle_rad: u(0.0, std::f64::consts::TAU),
                b2_angstrom: u(0.0, 300.0),
                b2_angle_rad: u(0.0, std::f64::consts::TAU),
                a2_angstrom: u(0.0, 300.0),
                a2_angle_rad: u(0.0, std::f64::consts::TAU),
                source_fwhm_angstrom: u(0.3, 0.7),
                focal_spread_angstrom: u(10.0, 40.0),
            }
        };
        let mut u = |lo: f64, hi: f64| rng.gen_range(lo..=hi);
        let (adf, specimen_flipped, contrast_jitter, detector_efficiency) = if clean {
            (NOMINAL_ADF_MRAD, false, no_jitter(), 1.0)
        } else {
            let jitter = [u(-1.0, 1.0), u(-1.0, 1.0)].map(|v| 1.1f64.powf(v));
            let adf = if req.low_angle_adf {
                // Just outside the bright-field disk, where it does not reach the detector.
                let lo = (probe.convergence_mrad + BRIGHT_FIELD_MARGIN_MRAD)
                    .max(LOW_ANGLE_ADF_MRAD[0][0])
                    .min(LOW_ANGLE_ADF_MRAD[0][1]);
                [
                    u(lo, LOW_ANGLE_ADF_MRAD[0][1]),
                    u(LOW_ANGLE_ADF_MRAD[1][0], LOW_ANGLE_ADF_MRAD[1][1]),
                ]
            } else {
                [u(35.0, 100.0), u(150.0, 250.0)]
            };
            (adf, u(0.0, 1.0) < 0.5, jitter, u(0.3, 1.0))
        };
        let level = if clean { 0.0 } else { req.carbon };
        let carbon = CarbonParams {
            level,
            max_thickness_angstrom: 60.0 * level * u(0.7, 1.0),
            film_thickness_angstrom: 4.0 * level * u(0.0, 1.0),
            coverage: u(0.3, 0.85),
            correlation_angstrom: u(10.0, 40.0),
        };
        let s = if clean { 0.0 } else { req.scan_noise };
        let rows = req.height as f64;
        let flyback_decay_px = u(10.0, 40.0);
        let scan = ScanParams {
            jitter_x_angstrom: 0.35 * s,
            jitter_y_angstrom: 0.12 * s,
            drift_x_px_per_row: u(-1.5, 1.5) * s / px / rows,
            drift_y_fraction: u(-1.5, 1.5) * s / px / rows,
            flyback_amplitude_px: (u(0.0, 0.6) * s / px).min(0.5 * flyback_decay_px),
            flyback_decay_px,
        };
        let background = if clean {
            BackgroundParams {
                amplitude: 0.0,
                angle_rad: 0.0,
                curvature: 0.0,
            }
        } else {
            BackgroundParams {
                amplitude: u(0.0, 0.3),
                angle_rad: u(0.0, std::f64::consts::TAU),
                curvature: u(-0.15, 0.15),
            }
        };
        let detector = if clean {
            DetectorParams::ideal()
        } else {
            let gain = (u(0.2f64.ln(), 5f64.ln())).exp();
            DetectorParams {
                gain,
                offset: u(0.0, 20.0) * gain,
                readout_sigma_counts: u(0.0, 1.5),
                contrast: u(0.7, 1.4),
                brightness: u(-0.1, 0.1),
                gamma: u(0.8, 1.25),
            }
        };
        SimParams {
            width: req.width,
            height: req.height,
            pixel_size_angstrom: px,
            clean,
            polymorph: req.polymorph,
            second_polymorph: req.second_polymorph,
            boundary,
            chemistry: req.chemistry,
            lattice_a_angstrom: req.chemistry.lattice_a_angstrom(),
            strain,
            rotation_deg,
            origin_angstrom,
            vs1_fraction: req.vs1_fraction,
            vs2_fraction: req.vs2_fraction,
            mo_vacancy_fraction: req.mo_vacancy_fraction,
            adatoms_per_nm2: req.adatoms_per_nm2,
            hole_fraction: req.hole_fraction,
            hole_correlation_angstrom: u(15.0, 40.0),
            probe,
            adf_inner_mrad: adf[0],
            adf_outer_mrad: adf[1],
            specimen_flipped,
            contrast_jitter,
            detector_efficiency,
            dose_e_per_angstrom2: req.dose_e_per_angstrom2,
            carbon,
            scan,
            background,
            detector,
        }
    }

    /// The column response at these optics and this detector.
    pub fn response(&self) -> Response {
        Response::at(
            self.probe.energy_kv,
            self.probe.convergence_mrad,
            self.adf_inner_mrad,
        )
    }
}
