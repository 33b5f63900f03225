package org.stemsight;

/** report.json "summary": counts over clean (uncontaminated) material. */
public final class Summary {
    public final int nMo;
    public final int nS2Sites;
    public final int nVs1;
    public final int nVs2;
    public final double vsPerS2Site;
    public final double missingSPerS2Site;
    public final double vacanciesPerNm2;
    public final double analyzedAreaNm2;
    public final double excludedAreaNm2;
    public final int nVacanciesExcluded;

    Summary(JsonFields f) {
        nMo = f.integer("n_mo");
        nS2Sites = f.integer("n_s2_sites");
        nVs1 = f.integer("n_vs1");
        nVs2 = f.integer("n_vs2");
        vsPerS2Site = f.num("vs_per_s2_site");
        missingSPerS2Site = f.num("missing_s_per_s2_site");
        vacanciesPerNm2 = f.num("vacancies_per_nm2");
        analyzedAreaNm2 = f.num("analyzed_area_nm2");
        excludedAreaNm2 = f.num("excluded_area_nm2");
        nVacanciesExcluded = f.integer("n_vacancies_excluded");
    }
}
