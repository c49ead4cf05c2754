"""mgmtfeat: MGMT promoter methylation from mpMRI through off-the-shelf video-network features.

The subpackages are the steps of the data flow, in the order of :data:`STEPS`; each step imports
only the steps before it. The commands (``mgmtfeat CMD``) sit above all steps.
"""

__version__ = "0.1.0"

#: The steps of the data flow, in order: a step (a subpackage) imports only itself and the steps before it.
STEPS = ("data", "clips", "backbones", "radiomics", "store", "extraction", "models", "evaluation", "reports", "bundle",
         "saliency", "experiments")

#: Canonical input names, in the order every feature array uses.
MODALITIES = ("flair", "t1", "t1ce", "t2", "delta_t1")
#: How figures and tables name each input.
MODALITY_LABELS = {"flair": "FLAIR", "t1": "T1", "t1ce": "T1wCE", "t2": "T2", "delta_t1": "delta-T1"}
#: Number of Kinetics-400 output logits each backbone produces per clip.
N_FEATURES = 400
