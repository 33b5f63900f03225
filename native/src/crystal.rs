//! MoS₂ crystal structures projected along [001]: lattice, polymorph stacking, vacancies.
//!
//! The hexagonal projection has three site types A, B, C (each a triangular sub-lattice
//! of spacing `a`); a polymorph is defined by which atoms stack on which site in each
//! layer (`SCIENCE.md` §2). Positions here are in Å in the specimen frame.
//!
//! The typed values the engine, the report and eval share live here, each with the one
//! name outputs carry (`name()`, `Display`, `FromStr` and serde all use it): the
//! [`Chemistry`], the [`Polymorph`] and the [`PolymorphClass`] of a map pixel, a
//! projected [`Site`], a [`Column`]'s content and its [`Role`], a [`VacancyKind`].

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Serde through a type's name: `Display` writes it and `FromStr` reads it back, so a
/// value is written in `report.json`, `truth.json` and the CSVs exactly as `name()` says.
macro_rules! serde_by_name {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let name = <String as serde::Deserialize>::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_by_name;

/// `Display` by a type's `name()`.
macro_rules! display_by_name {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.name())
            }
        }
    };
}
pub(crate) use display_by_name;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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

    /// The element symbol of the atom playing `role`.
    pub fn symbol(self, role: Role) -> &'static str {
        let (metal, chalcogen) = self.symbols();
        match role {
            Role::Metal => metal,
            Role::Chalcogen => chalcogen,
        }
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

impl FromStr for Chemistry {
    type Err = String;

    fn from_str(name: &str) -> Result<Chemistry, String> {
        Chemistry::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Chemistry::ALL.iter().map(|c| c.name()).collect();
            format!("unknown chemistry '{name}' (one of {})", known.join(", "))
        })
    }
}

display_by_name!(Chemistry);
serde_by_name!(Chemistry);

/// Whether the chemistry was given (an option) or assumed (MoS₂ when none was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChemistrySource {
    Given,
    #[default]
    Assumed,
}

impl ChemistrySource {
    /// Given when the options name a chemistry.
    pub fn of(chemistry: Option<Chemistry>) -> ChemistrySource {
        match chemistry {
            Some(_) => ChemistrySource::Given,
            None => ChemistrySource::Assumed,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChemistrySource::Given => "given",
            ChemistrySource::Assumed => "assumed",
        }
    }
}

impl FromStr for ChemistrySource {
    type Err = String;

    fn from_str(name: &str) -> Result<ChemistrySource, String> {
        [ChemistrySource::Given, ChemistrySource::Assumed]
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("unknown chemistry source '{name}' (given or assumed)"))
    }
}

display_by_name!(ChemistrySource);
serde_by_name!(ChemistrySource);

/// The six stacking polymorphs, in the class order of `polymorph.tif` (1..=6; 0 is vacuum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Polymorph {
    H2Mono,
    H2Bi,
    H2Tri,
    R3Bi,
    R3Tri,
    T1,
}

/// A high-symmetry site of the hexagonal projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    A,
    B,
    C,
}

impl Site {
    pub const ALL: [Site; 3] = [Site::A, Site::B, Site::C];

    pub fn name(self) -> &'static str {
        match self {
            Site::A => "A",
            Site::B => "B",
            Site::C => "C",
        }
    }

    /// Offset in fractional coordinates of (a1, a2): A = 0, B = (a1+a2)/3, C = 2(a1+a2)/3.
    fn fraction(self) -> f64 {
        match self {
            Site::A => 0.0,
            Site::B => 1.0 / 3.0,
            Site::C => 2.0 / 3.0,
        }
    }
}

impl FromStr for Site {
    type Err = String;

    fn from_str(name: &str) -> Result<Site, String> {
        Site::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| format!("unknown site '{name}' (A, B or C)"))
    }
}

display_by_name!(Site);
serde_by_name!(Site);

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
        match self {
            Polymorph::H2Mono => "2H-1L",
            Polymorph::H2Bi => "2H-2L",
            Polymorph::H2Tri => "2H-3L",
            Polymorph::R3Bi => "3R-2L",
            Polymorph::R3Tri => "3R-3L",
            Polymorph::T1 => "1T",
        }
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

    /// What the column on `site` holds.
    pub fn content(self, site: Site) -> Column {
        Column::of(&self.column(site))
    }
}

impl FromStr for Polymorph {
    type Err = String;

    fn from_str(name: &str) -> Result<Polymorph, String> {
        Polymorph::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Polymorph::ALL.iter().map(|p| p.name()).collect();
            format!("unknown polymorph '{name}' (one of {})", known.join(", "))
        })
    }
}

display_by_name!(Polymorph);
serde_by_name!(Polymorph);

impl Polymorph {
    /// A comma-separated list of polymorph names ("2H-1L,1T"); blank for none.
    pub fn parse_list(text: &str) -> Result<Vec<Polymorph>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect()
    }
}

/// A class of the polymorph map: vacuum (holes, edges; value 0) or one of the six
/// polymorphs (1..=6, [`Polymorph::class_index`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PolymorphClass {
    #[default]
    Vacuum,
    Material(Polymorph),
}

impl PolymorphClass {
    /// Classes of the map, vacuum first: the number of values it holds.
    pub const COUNT: usize = Polymorph::ALL.len() + 1;

    /// Every class in the order of its map value.
    pub fn all() -> impl Iterator<Item = PolymorphClass> {
        std::iter::once(PolymorphClass::Vacuum).chain(Polymorph::ALL.map(Self::Material))
    }

    /// The class names in the order of their map values (`report.polymorph.classes`).
    pub fn names() -> Vec<String> {
        Self::all().map(|c| c.name().to_string()).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            PolymorphClass::Vacuum => "vacuum",
            PolymorphClass::Material(p) => p.name(),
        }
    }

    /// Value in the polymorph class map.
    pub fn index(self) -> u8 {
        match self {
            PolymorphClass::Vacuum => 0,
            PolymorphClass::Material(p) => p.class_index(),
        }
    }

    /// The class of a map value; `None` beyond the six polymorphs.
    pub fn from_index(index: u8) -> Option<PolymorphClass> {
        match index {
            0 => Some(PolymorphClass::Vacuum),
            i => Polymorph::from_class(i).map(PolymorphClass::Material),
        }
    }

    pub fn polymorph(self) -> Option<Polymorph> {
        match self {
            PolymorphClass::Vacuum => None,
            PolymorphClass::Material(p) => Some(p),
        }
    }
}

impl From<Polymorph> for PolymorphClass {
    fn from(p: Polymorph) -> Self {
        PolymorphClass::Material(p)
    }
}

impl PartialEq<Polymorph> for PolymorphClass {
    fn eq(&self, p: &Polymorph) -> bool {
        *self == PolymorphClass::Material(*p)
    }
}

impl FromStr for PolymorphClass {
    type Err = String;

    fn from_str(name: &str) -> Result<PolymorphClass, String> {
        if name.eq_ignore_ascii_case(PolymorphClass::Vacuum.name()) {
            return Ok(PolymorphClass::Vacuum);
        }
        name.parse().map(PolymorphClass::Material)
    }
}

display_by_name!(PolymorphClass);
serde_by_name!(PolymorphClass);

/// What an atom, or a column holding one, is in the compound: the metal or the
/// chalcogen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Metal,
    Chalcogen,
}

impl Role {
    /// The atom head's label: metal-containing column or chalcogen-only column.
    pub fn of_metal(metal: bool) -> Role {
        if metal {
            Role::Metal
        } else {
            Role::Chalcogen
        }
    }
}

/// What a projected column holds: its metal atoms and its chalcogen atoms, named the
/// way microscopists write it in MoS₂'s symbols ("Mo", "S2", "S", "Mo+S2", "2Mo+S2",
/// "Mo+2S2", "S2+S", "empty"); [`Column::species`] writes it in another chemistry's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Column {
    pub metals: u8,
    pub chalcogens: u8,
}

impl Column {
    pub const EMPTY: Column = Column::new(0, 0);
    /// One metal atom ("Mo").
    pub const METAL: Column = Column::new(1, 0);
    /// A chalcogen pair ("S2"), the 2H monolayer's chalcogen column.
    pub const CHALCOGEN_PAIR: Column = Column::new(0, 2);
    /// A single chalcogen ("S"): a 1T chalcogen column, or an S₂ column with one missing.
    pub const CHALCOGEN: Column = Column::new(0, 1);

    pub const fn new(metals: u8, chalcogens: u8) -> Column {
        Column { metals, chalcogens }
    }

    /// The content of a column of atoms ([`Polymorph::column`]).
    pub fn of(atoms: &[(Element, f64)]) -> Column {
        let count = |e: Element| atoms.iter().filter(|a| a.0 == e).count() as u8;
        Column::new(count(Element::Mo), count(Element::S))
    }

    /// Metal when the column holds any metal atom; chalcogen otherwise.
    pub fn role(self) -> Role {
        Role::of_metal(self.metals > 0)
    }

    /// Whether the column holds both metal and chalcogen atoms (stacked layers).
    pub fn is_stacked(self) -> bool {
        self.metals > 0 && self.chalcogens > 0
    }

    /// The name in MoS₂'s symbols: "Mo", "S2", "Mo+S2", "2Mo+S2", "S2+S", "empty".
    pub fn name(self) -> String {
        self.written("Mo", "S")
    }

    /// The name in `chemistry`'s symbols ("W+Se2" for WSe₂'s "Mo+S2").
    pub fn species(self, chemistry: Chemistry) -> String {
        let (metal, chalcogen) = chemistry.symbols();
        self.written(metal, chalcogen)
    }

    /// Metals as "Mo" or "kMo", chalcogens in pairs ("S2", "kS2") with an odd one
    /// added ("S", "S2+S"), joined by "+".
    fn written(self, metal: &str, chalcogen: &str) -> String {
        let mut parts = Vec::new();
        match self.metals {
            0 => {}
            1 => parts.push(metal.to_string()),
            n => parts.push(format!("{n}{metal}")),
        }
        match self.chalcogens / 2 {
            0 => {}
            1 => parts.push(format!("{chalcogen}2")),
            k => parts.push(format!("{k}{chalcogen}2")),
        }
        if self.chalcogens % 2 == 1 {
            parts.push(chalcogen.to_string());
        }
        if parts.is_empty() {
            "empty".into()
        } else {
            parts.join("+")
        }
    }
}

impl FromStr for Column {
    type Err = String;

    /// Reads a name [`Column::name`] writes, and only such a name.
    fn from_str(name: &str) -> Result<Column, String> {
        let bad = || format!("unknown column content '{name}'");
        if name == "empty" {
            return Ok(Column::EMPTY);
        }
        let (mut metals, mut chalcogens) = (0u8, 0u8);
        for part in name.split('+') {
            let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (count, unit) = part.split_at(digits);
            let k: u8 = if count.is_empty() {
                1
            } else {
                count.parse().map_err(|_| bad())?
            };
            let (total, per) = match unit {
                "Mo" => (&mut metals, 1),
                "S2" => (&mut chalcogens, 2),
                "S" => (&mut chalcogens, 1),
                _ => return Err(bad()),
            };
            *total = k
                .checked_mul(per)
                .and_then(|n| total.checked_add(n))
                .ok_or_else(bad)?;
        }
        let column = Column::new(metals, chalcogens);
        (column.name() == name).then_some(column).ok_or_else(bad)
    }
}

display_by_name!(Column);
serde_by_name!(Column);

/// A chalcogen vacancy: one atom of a chalcogen pair missing (VS1) or both (VS2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VacancyKind {
    VS1,
    VS2,
}

impl VacancyKind {
    pub const ALL: [VacancyKind; 2] = [VacancyKind::VS1, VacancyKind::VS2];

    pub fn name(self) -> &'static str {
        match self {
            VacancyKind::VS1 => "VS1",
            VacancyKind::VS2 => "VS2",
        }
    }

    /// Chalcogen atoms missing from the pair.
    pub fn missing(self) -> u8 {
        match self {
            VacancyKind::VS1 => 1,
            VacancyKind::VS2 => 2,
        }
    }

    /// The name in `chemistry`'s symbols ("VSe1" for WSe₂'s "VS1").
    pub fn species(self, chemistry: Chemistry) -> String {
        let chalcogen = chemistry.symbol(Role::Chalcogen);
        format!("V{chalcogen}{}", self.missing())
    }
}

impl FromStr for VacancyKind {
    type Err = String;

    fn from_str(name: &str) -> Result<VacancyKind, String> {
        VacancyKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown vacancy type '{name}' (VS1 or VS2)"))
    }
}

display_by_name!(VacancyKind);
serde_by_name!(VacancyKind);

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
                let content = p.content(*s);
                assert_eq!(content.name(), w, "{p} site {s}");
                assert_eq!(w.parse::<Column>(), Ok(content), "{w}");
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
        for (k, c) in PolymorphClass::all().enumerate() {
            assert_eq!(c.index() as usize, k);
            assert_eq!(PolymorphClass::from_index(c.index()), Some(c));
            assert_eq!(c.name().parse(), Ok(c));
        }
        assert_eq!(
            PolymorphClass::from_index(PolymorphClass::COUNT as u8),
            None
        );
        assert_eq!(PolymorphClass::names()[0], "vacuum");
        assert_eq!(PolymorphClass::names()[6], "1T");
    }

    #[test]
    fn names_serialize_as_the_outputs_write_them() {
        fn json<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap()
        }
        assert_eq!(json(&Polymorph::H2Mono), "\"2H-1L\"");
        assert_eq!(json(&PolymorphClass::Vacuum), "\"vacuum\"");
        assert_eq!(json(&Chemistry::MoSe2), "\"MoSe2\"");
        assert_eq!(json(&Site::C), "\"C\"");
        assert_eq!(json(&Column::new(2, 2)), "\"2Mo+S2\"");
        assert_eq!(json(&VacancyKind::VS2), "\"VS2\"");
        let back: Column = serde_json::from_str("\"Mo+2S2\"").unwrap();
        assert_eq!(back, Column::new(1, 4));
        assert!(serde_json::from_str::<Column>("\"Mo+Mo\"").is_err());
        assert!(serde_json::from_str::<VacancyKind>("\"VS3\"").is_err());
    }

    #[test]
    fn column_names_round_trip_and_nothing_else_parses() {
        for metals in 0..5 {
            for chalcogens in 0..9 {
                let c = Column::new(metals, chalcogens);
                assert_eq!(c.name().parse(), Ok(c), "{c}");
                assert_eq!(c.role() == Role::Metal, metals > 0);
            }
        }
        for bad in [
            "", "+", "Mo+", "1Mo", "S+S2", "S+S", "2S", "W", "Mo+S2+Mo", "300Mo", "empty+S",
        ] {
            assert!(bad.parse::<Column>().is_err(), "{bad}");
        }
        assert_eq!(Column::new(0, 3).name(), "S2+S");
        assert_eq!(Column::new(0, 5).name(), "2S2+S");
    }

    #[test]
    fn species_are_written_in_the_chemistry() {
        let c = Column::new(1, 2);
        assert_eq!(c.species(Chemistry::MoS2), "Mo+S2");
        assert_eq!(c.species(Chemistry::WSe2), "W+Se2");
        assert_eq!(Column::new(1, 4).species(Chemistry::WSe2), "W+2Se2");
        assert_eq!(Column::new(0, 3).species(Chemistry::MoSe2), "Se2+Se");
        assert_eq!(Column::EMPTY.species(Chemistry::WS2), "empty");
        assert_eq!(VacancyKind::VS1.species(Chemistry::WSe2), "VSe1");
        assert_eq!(VacancyKind::VS2.species(Chemistry::MoS2), "VS2");
    }
}
