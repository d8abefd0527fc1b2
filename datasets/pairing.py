"""The recorded rule that pairs test images with masks.

Within each bucket, masks are taken in manifest order m_0..m_{K-1} and test images in manifest
order i_0..i_{n-1}; the bucket holds max(K, n) items, item j pairing image i_{j mod n} with mask
m_{j mod K}. So every bucket sees the same images in the same order (differences between buckets
come from the masks alone), every mask is used, and a one-mask set (the centre box) pairs with
every test image. The rule uses no randomness; predictions.tsv records the resulting pairs.
"""
import pandas as pd


def pair(images, masks):
    """images: test manifest (id, ...); masks: mask manifest (id, hole_ratio, bucket).
    Returns item, image_id, mask_id, bucket, hole_ratio, in bucket then item order."""
    if len(images) == 0:
        raise ValueError("the test split has no images, so there is nothing to pair masks with")
    rows = []
    for bucket, group in masks.groupby("bucket", sort=True):
        if bucket == "none":
            continue
        group = group.reset_index(drop=True)
        for j in range(max(len(group), len(images))):
            mask = group.iloc[j % len(group)]
            rows.append(dict(item=f"{mask['id']}__{images['id'].iloc[j % len(images)]}",
                             image_id=images["id"].iloc[j % len(images)], mask_id=mask["id"],
                             bucket=bucket, hole_ratio=mask["hole_ratio"]))
    if not rows:
        raise ValueError("no mask of the set lies in the buckets (0.01, 0.6], so no test item "
                         "can be paired; see the hole_ratio column of its manifest.tsv")
    return pd.DataFrame(rows)
