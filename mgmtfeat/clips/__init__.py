"""Step 2, volumes -> 150-frame uint8 clips (percentile scaling, tumour box, delta-T1), clip files and videos.

>>> from mgmtfeat.clips import ClipSettings, make_clips
>>> clips = make_clips(case, ClipSettings())   # five (150, 128, 128) uint8 clips
"""

from mgmtfeat.clips.core import (BoxSpec, CaseClips, ClipSettings, load_case_clips, make_clips, read_box_csv,
                                 save_case_clips, scale_to_uint8, stack, to_frames)

__all__ = ["BoxSpec", "CaseClips", "ClipSettings", "load_case_clips", "make_clips", "read_box_csv", "save_case_clips",
           "scale_to_uint8", "stack", "to_frames"]
