/* builtin.S: the default models, linked into libwalloc as read-only data (codec/model.c). */
  .section .rodata
  .balign 16
  .globl wl_model_rgb, wl_model_rgb_end, wl_model_gray, wl_model_gray_end
wl_model_rgb:
  .incbin "codec/models/rgb.wlm"
wl_model_rgb_end:
  .balign 16
wl_model_gray:
  .incbin "codec/models/gray.wlm"
wl_model_gray_end:
  .section .note.GNU-stack,"",@progbits
