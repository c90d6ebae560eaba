"""The classic detectors and the standard-parts pipeline, as code, for side-by-side tables (never imported by
the product). Written from the papers' descriptions:

* PCA-SPE — Xu et al., "Detecting Large-Scale System Problems by Mining Console Logs", SOSP 2009;
* Invariant Mining — Lou et al., "Mining Invariants from Console Logs for System Problem Detection", ATC 2010;
* LogClustering — Lin et al., "Log Clustering based Problem Identification for Online Service Systems", ICSE 2016;
* IsolationForest — Liu et al., ICDM 2008 (scikit-learn's), as loglizer runs it on event counts.
"""
