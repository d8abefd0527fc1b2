"""Image-quality metrics (PSNR, SSIM, L1, LPIPS, FID), backbone weights, and the score stage."""
