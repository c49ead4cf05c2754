"""Step 2, volumes -> 150-frame uint8 clips, one module per job: case (a case's files -> its clips, the one
path every command takes), settings (ClipSettings, user boxes),
placement (the tumour box and frames), intensity (percentile scaling), delta (delta-T1), make (make_clips),
files (clip .npz), video (MP4/AVI, montages, previews), dataset (a dataset folder -> clip files), slices
(the ROI's slices as three-channel images, the slice pathway's input).

>>> from mgmtfeat.clips import ClipSettings, make_clips
>>> clips = make_clips(case, ClipSettings())   # five (150, 128, 128) uint8 clips
"""

from mgmtfeat.clips.case import case_clips, read_case
from mgmtfeat.clips.files import load_case_clips, save_case_clips
from mgmtfeat.clips.intensity import scale_to_uint8
from mgmtfeat.clips.make import CaseClips, make_clips, stack, to_frames
from mgmtfeat.clips.placement import Placement
from mgmtfeat.clips.settings import BoxSpec, ClipSettings, read_box_csv

__all__ = ["BoxSpec", "CaseClips", "ClipSettings", "Placement", "case_clips", "load_case_clips", "make_clips",
           "read_box_csv", "read_case", "save_case_clips", "scale_to_uint8", "stack", "to_frames"]
