//! MoS₂ crystal structures projected along [001]: lattice, polymorph stacking, vacancies.
//!
//! The hexagonal projection has three site types A, B, C (each a triangular sub-lattice
//! of spacing `a`); a polymorph is defined by which atoms stack on which site in each
//! layer (`SCIENCE.md` §2). Positions here are in Å in the specimen frame.

use serde::{Deserialize, Serialize};
use std::fmt;

/// In-plane lattice constant of MoS₂.
pub const LATTICE_A_ANGSTROM: f64 = 3.16;
/// Height of each S plane above/below its Mo plane.
pub const S_HEIGHT_ANGSTROM: f64 = 1.59;
/// Spacing between stacked layers.
pub const INTERLAYER_ANGSTROM: f64 = 6.15;

/// Chemical element of an atom in the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Element {
    Mo,
    S,
    C,
}

impl Element {
    pub fn atomic_number(self) -> u32 {
        match self {
            Element::Mo => 42,
            Element::S => 16,
            Element::C => 6,
        }
    }
}

/// Which transition-metal dichalcogenide: the structure types are shared, the
/// atoms (Z-contrast) and the lattice constant differ. `Element::Mo` and
/// `Element::S` in the structure stand for the metal and the chalcogen roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Chemistry {
    #[default]
    MoS2,
    WS2,
    MoSe2,
    WSe2,
}

impl Chemistry {
    pub const ALL: [Chemistry; 4] = [
        Chemistry::MoS2,
        Chemistry::WS2,
        Chemistry::MoSe2,
        Chemistry::WSe2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Chemistry::MoS2 => "MoS2",
            Chemistry::WS2 => "WS2",
            Chemistry::MoSe2 => "MoSe2",
            Chemistry::WSe2 => "WSe2",
        }
    }

    /// Element symbols of the metal and the chalcogen.
    pub fn symbols(self) -> (&'static str, &'static str) {
        match self {
            Chemistry::MoS2 => ("Mo", "S"),
            Chemistry::WS2 => ("W", "S"),
            Chemistry::MoSe2 => ("Mo", "Se"),
            Chemistry::WSe2 => ("W", "Se"),
        }
    }

    /// A site label written with MoS₂'s symbols ("Mo+2S2", "S2", "VS1") in this
    /// chemistry's ("W+2Se2", "Se2", "VSe1").
    pub fn species(self, label: &str) -> String {
        let (metal, chalcogen) = self.symbols();
        label.replace('S', chalcogen).replace("Mo", metal)
    }

    pub fn from_name(name: &str) -> Option<Chemistry> {
        Chemistry::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Atomic number of the atom playing `role` (Mo = the metal, S = the chalcogen).
    pub fn atomic_number(self, role: Element) -> u32 {
        match (role, self) {
            (Element::Mo, Chemistry::MoS2 | Chemistry::MoSe2) => 42,
            (Element::Mo, Chemistry::WS2 | Chemistry::WSe2) => 74,
            (Element::S, Chemistry::MoS2 | Chemistry::WS2) => 16,
            (Element::S, Chemistry::MoSe2 | Chemistry::WSe2) => 34,
            (Element::C, _) => 6,
        }
    }

    /// In-plane lattice constant (Å), 2H bulk values.
    pub fn lattice_a_angstrom(self) -> f64 {
        match self {
            Chemistry::MoS2 => LATTICE_A_ANGSTROM,
            Chemistry::WS2 => 3.153,
            Chemistry::MoSe2 => 3.288,
            Chemistry::WSe2 => 3.282,
        }
    }
}

/// The six stacking polymorphs, in the class order of `polymorph.tif` (1..=6; 0 is vacuum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Polymorph {
    #[serde(rename = "2H-1L")]
    H2Mono,
    #[serde(rename = "2H-2L")]
    H2Bi,
    #[serde(rename = "2H-3L")]
    H2Tri,
    #[serde(rename = "3R-2L")]
    R3Bi,
    #[serde(rename = "3R-3L")]
    R3Tri,
    #[serde(rename = "1T")]
    T1,
}

/// Class names of the polymorph map, index = class value.
pub const POLYMORPH_CLASSES: [&str; 7] =
    ["vacuum", "2H-1L", "2H-2L", "2H-3L", "3R-2L", "3R-3L", "1T"];

/// A high-symmetry site of the hexagonal projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    A,
    B,
    C,
}

impl Site {
    pub const ALL: [Site; 3] = [Site::A, Site::B, Site::C];

    /// Offset in fractional coordinates of (a1, a2): A = 0, B = (a1+a2)/3, C = 2(a1+a2)/3.
    fn fraction(self) -> f64 {
        match self {
            Site::A => 0.0,
            Site::B => 1.0 / 3.0,
            Site::C => 2.0 / 3.0,
        }
    }
}

impl Polymorph {
    pub const ALL: [Polymorph; 6] = [
        Polymorph::H2Mono,
        Polymorph::H2Bi,
        Polymorph::H2Tri,
        Polymorph::R3Bi,
        Polymorph::R3Tri,
        Polymorph::T1,
    ];

    pub fn name(self) -> &'static str {
        POLYMORPH_CLASSES[self.class_index() as usize]
    }

    /// Value in the polymorph class map.
    pub fn class_index(self) -> u8 {
        Self::ALL.iter().position(|&p| p == self).unwrap() as u8 + 1
    }

    pub fn from_class(index: u8) -> Option<Polymorph> {
        Self::ALL.get((index as usize).checked_sub(1)?).copied()
    }

    pub fn from_name(name: &str) -> Option<Polymorph> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn layers(self) -> usize {
        match self {
            Polymorph::H2Mono | Polymorph::T1 => 1,
            Polymorph::H2Bi | Polymorph::R3Bi => 2,
            Polymorph::H2Tri | Polymorph::R3Tri => 3,
        }
    }

    /// (Mo site, S₂ site) of each layer, bottom first.
    fn layer_sites(self) -> &'static [(Site, Site)] {
        use Site::*;
        match self {
            Polymorph::H2Mono => &[(A, B)],
            Polymorph::H2Bi => &[(A, B), (B, A)],
            Polymorph::H2Tri => &[(A, B), (B, A), (A, B)],
            Polymorph::R3Bi => &[(A, B), (B, C)],
            Polymorph::R3Tri => &[(A, B), (B, C), (C, A)],
            // 1T splits the S₂ pair over B (top) and C (bottom); handled in `column`.
            Polymorph::T1 => &[(A, B)],
        }
    }

    /// Atoms of the column on `site` as (element, height in Å), bottom first.
    pub fn column(self, site: Site) -> Vec<(Element, f64)> {
        let mut atoms = Vec::new();
        if self == Polymorph::T1 {
            match site {
                Site::A => atoms.push((Element::Mo, 0.0)),
                Site::B => atoms.push((Element::S, S_HEIGHT_ANGSTROM)),
                Site::C => atoms.push((Element::S, -S_HEIGHT_ANGSTROM)),
            }
            return atoms;
        }
        for (layer, &(mo, s2)) in self.layer_sites().iter().enumerate() {
            let z = layer as f64 * INTERLAYER_ANGSTROM;
            if mo == site {
                atoms.push((Element::Mo, z));
            }
            if s2 == site {
                atoms.push((Element::S, z - S_HEIGHT_ANGSTROM));
                atoms.push((Element::S, z + S_HEIGHT_ANGSTROM));
            }
        }
        atoms
    }
}

impl fmt::Display for Polymorph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Name of a column's content the way microscopists write it: "Mo", "S2", "Mo+S2", "2Mo+S2".
pub fn column_label(atoms: &[(Element, f64)]) -> String {
    let n_mo = atoms.iter().filter(|a| a.0 == Element::Mo).count();
    let n_s = atoms.iter().filter(|a| a.0 == Element::S).count();
    let mut parts = Vec::new();
    match n_mo {
        0 => {}
        1 => parts.push("Mo".to_string()),
        n => parts.push(format!("{n}Mo")),
    }
    match (n_s / 2, n_s % 2) {
        (0, 0) => {}
        (0, 1) => parts.push("S".into()),
        (1, 0) => parts.push("S2".into()),
        (k, 0) => parts.push(format!("{k}S2")),
        (1, 1) => parts.push("S2+S".into()),
        (k, _) => parts.push(format!("{k}S2+S")),
    }
    if parts.is_empty() {
        "empty".into()
    } else {
        parts.join("+")
    }
}

/// Hexagonal lattice placed in the specimen: lattice constant, strain, rotation, origin.
#[derive(Debug, Clone, Copy)]
pub struct Lattice {
    /// Columns of the 2×2 matrix taking fractional (i, j) to Å.
    pub a1: [f64; 2],
    pub a2: [f64; 2],
    pub origin: [f64; 2],
}

impl Lattice {
    /// `strain` = [εxx, εyy, εxy] in the crystal frame, applied before the rotation.
    pub fn new(a: f64, strain: [f64; 3], rotation_deg: f64, origin: [f64; 2]) -> Lattice {
        let (s, c) = rotation_deg.to_radians().sin_cos();
        let m = [[1.0 + strain[0], strain[2]], [strain[2], 1.0 + strain[1]]];
        let map = |v: [f64; 2]| {
            let sv = [
                m[0][0] * v[0] + m[0][1] * v[1],
                m[1][0] * v[0] + m[1][1] * v[1],
            ];
            [c * sv[0] - s * sv[1], s * sv[0] + c * sv[1]]
        };
        Lattice {
            a1: map([a, 0.0]),
            a2: map([a * 0.5, a * 3f64.sqrt() / 2.0]),
            origin,
        }
    }

    pub fn position(&self, i: f64, j: f64) -> [f64; 2] {
        [
            self.origin[0] + i * self.a1[0] + j * self.a2[0],
            self.origin[1] + i * self.a1[1] + j * self.a2[1],
        ]
    }

    /// Position of `site` in unit cell (i, j).
    pub fn site_position(&self, i: i64, j: i64, site: Site) -> [f64; 2] {
        let f = site.fraction();
        self.position(i as f64 + f, j as f64 + f)
    }

    /// Fractional coordinates of a specimen point.
    fn fractional(&self, p: [f64; 2]) -> [f64; 2] {
        let (x, y) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        let det = self.a1[0] * self.a2[1] - self.a2[0] * self.a1[1];
        [
            (x * self.a2[1] - y * self.a2[0]) / det,
            (y * self.a1[0] - x * self.a1[1]) / det,
        ]
    }

    /// Range of cell indices whose sites may fall inside the given specimen rectangle.
    pub fn cell_range(
        &self,
        min: [f64; 2],
        max: [f64; 2],
    ) -> (std::ops::RangeInclusive<i64>, std::ops::RangeInclusive<i64>) {
        let corners = [
            [min[0], min[1]],
            [max[0], min[1]],
            [min[0], max[1]],
            [max[0], max[1]],
        ];
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for c in corners {
            let f = self.fractional(c);
            for k in 0..2 {
                lo[k] = lo[k].min(f[k]);
                hi[k] = hi[k].max(f[k]);
            }
        }
        (
            (lo[0].floor() as i64 - 1)..=(hi[0].ceil() as i64 + 1),
            (lo[1].floor() as i64 - 1)..=(hi[1].ceil() as i64 + 1),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(p: Polymorph, s: Site) -> String {
        column_label(&p.column(s))
    }

    #[test]
    fn column_contents_match_the_science_table() {
        use Polymorph::*;
        use Site::*;
        let table = [
            (H2Mono, ["Mo", "S2", "empty"]),
            (H2Bi, ["Mo+S2", "Mo+S2", "empty"]),
            (H2Tri, ["2Mo+S2", "Mo+2S2", "empty"]),
            (R3Bi, ["Mo", "Mo+S2", "S2"]),
            (R3Tri, ["Mo+S2", "Mo+S2", "Mo+S2"]),
            (T1, ["Mo", "S", "S"]),
        ];
        for (p, want) in table {
            for (s, w) in [A, B, C].iter().zip(want) {
                assert_eq!(label(p, *s), w, "{p} site {s:?}");
            }
        }
    }

    #[test]
    fn nearest_a_b_distance_is_a_over_root3() {
        let l = Lattice::new(LATTICE_A_ANGSTROM, [0.0; 3], 17.0, [1.0, 2.0]);
        let a = l.site_position(0, 0, Site::A);
        let b = l.site_position(0, 0, Site::B);
        let d = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
        assert!((d - LATTICE_A_ANGSTROM / 3f64.sqrt()).abs() < 1e-9);
        let f = l.fractional(l.site_position(3, -2, Site::C));
        assert!(
            (f[0] - (3.0 + 2.0 / 3.0)).abs() < 1e-9 && (f[1] - (-2.0 + 2.0 / 3.0)).abs() < 1e-9
        );
    }

    #[test]
    fn class_indices_round_trip() {
        for p in Polymorph::ALL {
            assert_eq!(Polymorph::from_class(p.class_index()), Some(p));
            assert_eq!(Polymorph::from_name(p.name()), Some(p));
        }
        assert_eq!(Polymorph::from_class(0), None);
    }
}
