/* builtin.S: the default models, linked into libwalloc as read-only data (codec/model.c). */
.macro model sym, file
  .balign 16
  .globl wl_model_\sym, wl_model_\sym\()_end
  .hidden wl_model_\sym, wl_model_\sym\()_end
wl_model_\sym:
  .incbin "\file"
wl_model_\sym\()_end:
.endm

  .section .rodata
  model rgb, "codec/models/rgb.wlm"
  model rgb_linear, "codec/models/rgb-linear.wlm"
  model gray, "codec/models/gray.wlm"
  model stereo, "codec/models/stereo.wlm"
  model mono, "codec/models/mono.wlm"
  .section .note.GNU-stack,"",@progbits
