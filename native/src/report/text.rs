//! The few lines of a report a person reads on the terminal (the CLI's summary line).

use crate::findings::Report;

impl Report {
    /// A few lines a person reads on the terminal.
    pub fn summary_text(&self) -> String {
        let s = &self.summary;
        let mut fr: Vec<(&String, &f64)> = self.polymorph.fractions.iter().collect();
        fr.sort_by(|a, b| b.1.total_cmp(a.1));
        let poly = fr
            .iter()
            .filter(|(_, f)| **f >= 0.005)
            .map(|(k, f)| format!("{k} {:.1}%", **f * 100.0))
            .collect::<Vec<_>>()
            .join(", ");
        let (metal, chalcogen) = self.chemistry.name.symbols();
        let lattice = match self.lattice.a_angstrom {
            Some(a) => format!("lattice a {a:.3} Å"),
            None => "no lattice".to_string(),
        };
        format!(
            "{} ({}x{}, {:.4} Å/px from {}; {lattice}): {} columns ({} {metal}, {} {chalcogen}2 \
             sites); V{chalcogen}1 {}, V{chalcogen}2 {} ({:.4} vacancies per {chalcogen}2 site, \
             {:.3} per nm²); polymorphs: {}; carbon {:.1}% ({:.1} nm² analyzed, {:.1} nm² \
             excluded); {:.0} ms",
            self.image.path,
            self.image.width,
            self.image.height,
            self.image.pixel_size_angstrom,
            self.image.pixel_size_source,
            self.atoms.len(),
            s.n_mo,
            s.n_s2_sites,
            s.n_vs1,
            s.n_vs2,
            s.vs_per_s2_site,
            s.vacancies_per_nm2,
            if poly.is_empty() { "none".into() } else { poly },
            self.carbon.contaminated_fraction * 100.0,
            s.analyzed_area_nm2,
            s.excluded_area_nm2,
            self.timing_ms.get("total").copied().unwrap_or(0.0)
        )
    }
}
