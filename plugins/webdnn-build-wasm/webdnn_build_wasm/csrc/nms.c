/* webdnn-build wasm kernel: NonMaxSuppression (kernels_rrp.h), as the js kernel (misc.js): per (batch,
 * class), the boxes scoring above score_threshold in descending score order (equal scores: the lower
 * index first; a stable merge sort), each kept when its IoU with every kept box is not above
 * iou_threshold, up to max_output_boxes_per_class. Coordinates in double. The output's row count is the
 * planned one: a different number of selected boxes is a run-time error (WDN_ERR_NMS_COUNT) and writes
 * nothing. Thread 0 computes everything, in its scratch. */
#include "kernels.h"
#include "internal.h"
#include "kernels_rrp.h"

static double nms_iou(const double* p, const double* q) {
  const double ix = (p[2] < q[2] ? p[2] : q[2]) - (p[0] > q[0] ? p[0] : q[0]);
  const double iy = (p[3] < q[3] ? p[3] : q[3]) - (p[1] > q[1] ? p[1] : q[1]);
  if (ix <= 0 || iy <= 0) return 0;
  const double inter = ix * iy;
  const double a1 = (p[2] - p[0]) * (p[3] - p[1]), a2 = (q[2] - q[0]) * (q[3] - q[1]);
  const double uni = a1 + a2 - inter;
  if (a1 <= 0 || a2 <= 0 || uni <= 0) return 0;
  return inter / uni;
}

/* i before j: the higher score, then the lower index */
static inline int nms_before(const float* s, int i, int j) { return s[i] > s[j] || (s[i] == s[j] && i < j); }

static void nms_sort(const float* s, int* a, int* tmp, int n) {
  for (int w = 1; w < n; w *= 2) {
    for (int lo = 0; lo < n; lo += 2 * w) {
      int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = nms_before(s, a[j], a[i]) ? a[j++] : a[i++];
      while (i < mid) tmp[k++] = a[i++];
      while (j < hi) tmp[k++] = a[j++];
    }
    for (int k = 0; k < n; k++) a[k] = tmp[k];
  }
}

void wdn_nms(const wdn_nms_params* p, int tid, int nth) {
  (void)nth;
  if (tid != 0) return;
  const int B = p->batches, N = p->boxes_n, C = p->classes;
  int64_t max_per = p->max_out ? *p->max_out : 0;
  if (max_per < 0) max_per = 0;
  const double iou_thr = p->iou ? *p->iou : 0.0;
  double* ext = (double*)wdn_scratch_f32(p->scratch, p->scratch_stride, 0);
  int* cand = (int*)(ext + 4 * (int64_t)N);
  int* tmp = cand + N;
  int* kept = tmp + N;
  int64_t count = 0;
  for (int pass = 0; pass < 2; pass++) { /* count, then (when it is the planned one) write */
    count = 0;
    for (int b = 0; b < B; b++) {
      const float* bd = p->boxes + (int64_t)b * N * 4;
      for (int i = 0; i < N; i++) {
        const double a = bd[4 * i], c = bd[4 * i + 1], d = bd[4 * i + 2], e = bd[4 * i + 3];
        double* x = ext + 4 * (int64_t)i;
        if (p->center_point_box) { x[0] = a - d / 2; x[1] = c - e / 2; x[2] = a + d / 2; x[3] = c + e / 2; }
        else {
          x[0] = c < e ? c : e; x[1] = a < d ? a : d; x[2] = c < e ? e : c; x[3] = a < d ? d : a;
        }
      }
      for (int cl = 0; cl < C; cl++) {
        const float* s = p->scores + ((int64_t)b * C + cl) * N;
        int n = 0;
        for (int i = 0; i < N; i++)
          if (!p->score || s[i] > *p->score) cand[n++] = i;
        nms_sort(s, cand, tmp, n);
        int nk = 0;
        for (int t = 0; t < n && nk < max_per; t++) {
          const int i = cand[t];
          int ok = 1;
          for (int u = 0; u < nk && ok; u++)
            ok = !(nms_iou(ext + 4 * (int64_t)i, ext + 4 * (int64_t)kept[u]) > iou_thr);
          if (!ok) continue;
          kept[nk++] = i;
          if (pass == 1) {
            p->y[3 * count] = b;
            p->y[3 * count + 1] = cl;
            p->y[3 * count + 2] = i;
          }
          count++;
        }
      }
    }
    if (pass == 0 && count != p->rows) { wdn_set_error(WDN_ERR_NMS_COUNT, p->op_index); return; }
  }
}
