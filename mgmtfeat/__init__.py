"""mgmtfeat: MGMT promoter methylation from mpMRI through off-the-shelf video-network features."""

__version__ = "0.1.0"

#: Canonical input names, in the order every feature array uses.
MODALITIES = ("flair", "t1", "t1ce", "t2", "delta_t1")
#: How figures and tables name each input.
MODALITY_LABELS = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1wCE", "t2": "T2", "delta_t1": "delta-T1"}
#: Number of Kinetics-400 output logits each backbone produces per clip.
N_FEATURES = 400
