//! `atoms.csv` and `vacancies.csv`: one row per atom or vacancy of the report, the
//! contract's fields first, then the additions.

use crate::findings::Report;

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl Report {
    pub fn atoms_csv(&self) -> String {
        let mut s = String::from(
            "x,y,x_A,y_A,site,intensity,normalized_intensity,polymorph,score,in_contaminated_area,species\n",
        );
        for a in &self.atoms {
            s.push_str(&format!(
                "{:.4},{:.4},{:.4},{:.4},{},{:.6},{:.6},{},{:.4},{},{}\n",
                a.x,
                a.y,
                a.x_a,
                a.y_a,
                a.site,
                a.intensity,
                a.normalized_intensity,
                a.polymorph,
                a.score,
                a.in_contaminated_area,
                csv_escape(&a.species)
            ));
        }
        s
    }

    pub fn vacancies_csv(&self) -> String {
        let mut s = String::from(
            "x,y,x_A,y_A,type,confidence,in_contaminated_area,normalized_intensity,polymorph,species\n",
        );
        for v in &self.vacancies {
            s.push_str(&format!(
                "{:.4},{:.4},{:.4},{:.4},{},{:.4},{},{:.6},{},{}\n",
                v.x,
                v.y,
                v.x_a,
                v.y_a,
                v.kind,
                v.confidence,
                v.in_contaminated_area,
                v.normalized_intensity,
                v.polymorph,
                csv_escape(&v.species)
            ));
        }
        s
    }
}
