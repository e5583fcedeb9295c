/*
 * triad/vision.h - image classification: Fashion-MNIST (gzipped IDX files),
 * convolution / max-pooling / ReLU layers, and two classifiers (a multilayer
 * perceptron and a small convolutional network) with explicit forward and
 * backward passes. The parameter server trains them through their parameter
 * sets (triad/ps.h).
 *
 * Layouts are NCHW, row-major; weights follow PyTorch (nn.Conv2d: (O, C, K, K),
 * nn.Linear: (O, I)) so that state_dict names and shapes match.
 */
#ifndef TRIAD_VISION_H
#define TRIAD_VISION_H

#include "triad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- data */

/* A labelled image set in memory: n images of h x w pixels scaled to [0, 1]
 * (float), labels 0 .. classes-1. */
typedef struct {
    int64_t n;
    int h, w, classes;
    float *x;       /* (n, h * w) */
    uint8_t *y;     /* (n) */
} tr_images;

/* Reads an IDX image file and its IDX label file (each gzipped or plain,
 * detected by the gzip magic; zlib) into out. Checks the magic numbers
 * (0x00000803 images, 0x00000801 labels), the dimensions, that both files
 * hold the same number of items, that the data is complete, and that labels
 * are < 10 (classes = 10). Errors name the file and what was expected. */
tr_status tr_images_load(tr_images *out, const char *images_path,
                         const char *labels_path, tr_err *err);
void tr_images_free(tr_images *d);
/* Writes d as two plain (uncompressed) IDX files (tests, subsets), each
 * atomically (triad/io.h): pixels rounded to the nearest k/255, clamped to
 * [0, 1]; labels as they are. d->n in [1, 2^32). */
tr_status tr_images_save(const tr_images *d, const char *images_path,
                         const char *labels_path, tr_err *err);

/* ---------------------------------------------------------------- layers */

/* y = max(x, 0), n values (y may alias x). */
void tr_relu_forward(float *y, const float *x, int64_t n);
/* dx = dy where y > 0, else 0 (dx may alias dy). */
void tr_relu_backward(float *dx, const float *dy, const float *y, int64_t n);

/* 2-D convolution, stride 1, zero padding pad, square kernel K:
 *   x (N, C, H, W), w (O, C, K, K), b (O) -> y (N, O, Ho, Wo),
 *   Ho = H + 2 pad - K + 1, Wo likewise.
 * col is scratch of (C*K*K, Ho*Wo) floats (im2col of one image), so each
 * image is one GEMM. */
void tr_conv2d_forward(float *y, float *col, const float *x, const float *w,
                       const float *b, int N, int C, int H, int W, int O,
                       int K, int pad);
/* dx (N, C, H, W) (NULL = skip) is overwritten; dw, db (NULL = skip) are
 * added to. col is scratch as in forward. */
void tr_conv2d_backward(float *dx, float *dw, float *db, float *col,
                        const float *dy, const float *x, const float *w,
                        int N, int C, int H, int W, int O, int K, int pad);

/* 2x2 max pooling, stride 2 (H, W even): x (N, C, H, W) -> y (N, C, H/2, W/2);
 * arg (N, C, H/2, W/2) caches the index (0..3) of each maximum. */
void tr_maxpool2_forward(float *y, uint8_t *arg, const float *x, int N, int C,
                         int H, int W);
/* dx (N, C, H, W) overwritten: dy routed to the maxima. */
void tr_maxpool2_backward(float *dx, const float *dy, const uint8_t *arg,
                          int N, int C, int H, int W);

/* ---------------------------------------------------------------- classifiers */

typedef enum { TR_CLS_MLP = 0, TR_CLS_CNN } tr_cls_kind;

#define TR_CLS_MAX_LAYERS 8

typedef struct {
    tr_cls_kind kind;
    int h, w, classes; /* input images h x w, one channel */
    int hidden;        /* MLP: width of each hidden layer (default 256) */
    int layers;        /* MLP: hidden layers (default 2) */
    int channels;      /* CNN: channels of the first conv (default 16; the
                          second has twice as many) */
} tr_cls_config;

/* Defaults for kind on 28 x 28 images, 10 classes. */
tr_cls_config tr_cls_defaults(tr_cls_kind kind);
/* "mlp" / "cnn" -> kind; TR_ERR_ARG with a message otherwise. */
tr_status tr_cls_kind_parse(const char *s, tr_cls_kind *kind, tr_err *err);

/* The models:
 *   mlp: x -> [linear, relu] x layers -> linear -> softmax cross-entropy;
 *        names fc0.weight, fc0.bias, fc1..., out.weight, out.bias.
 *   cnn: conv 5x5 pad 2 (channels) -> relu -> maxpool2 -> conv 5x5 pad 2
 *        (2 x channels) -> relu -> maxpool2 -> flatten (NCHW order, as
 *        torch.flatten(x, 1)) -> linear (classes) -> softmax cross-entropy;
 *        names conv1.weight/bias, conv2.weight/bias, out.weight/bias.
 * The parameters live in one arena; a model holds no per-batch buffers. */
typedef struct {
    tr_cls_config cfg;
    tr_arena arena;
    tr_params params;
} tr_cls;

/* Declares the parameters (values and gradients zero). Checks cfg: h, w in
 * [1, 4096] (multiples of 4 for the cnn), classes in [2, 256], hidden in
 * [1, 65536] and layers in [0, TR_CLS_MAX_LAYERS] (mlp), channels in
 * [1, 1024] (cnn); TR_ERR_ARG naming the field otherwise. */
tr_status tr_cls_init(tr_cls *m, const tr_cls_config *cfg, tr_err *err);
void tr_cls_free(tr_cls *m);
/* PyTorch's default initialisation (kaiming-uniform weights, uniform biases
 * in +-1/sqrt(fan_in)) from seed. */
void tr_cls_init_weights(tr_cls *m, uint64_t seed);

/* Per-batch buffers for batches of up to B images (set-up time; nothing is
 * allocated by forward or backward). Forward only reads the model, so
 * several states (one per thread) may run forward on one model at once;
 * backward adds into the model's gradients. Buffers a model kind does not
 * use are NULL. hw = h * w, C = channels. */
typedef struct {
    int B;
    int n;          /* images in the last forward */
    tr_arena arena;
    float *x;       /* (B, hw) input of the last forward */
    int32_t *y;     /* (B) its labels */
    /* mlp */
    float *act[TR_CLS_MAX_LAYERS]; /* (B, hidden) hidden layer l after relu */
    /* cnn */
    float *c1;      /* (B, C, h, w) conv1 after relu */
    float *p1;      /* (B, C, h/2, w/2) after the first pooling */
    uint8_t *arg1;  /* (B, C, h/2, w/2) its arg-max cache */
    float *c2;      /* (B, 2C, h/2, w/2) conv2 after relu */
    float *p2;      /* (B, 2C, h/4, w/4) after the second pooling: the
                       input of out */
    uint8_t *arg2;  /* (B, 2C, h/4, w/4) */
    float *col;     /* im2col scratch of one image: (25, hw) for conv1,
                       (25 C, hw / 4) for conv2, whichever is larger */
    /* both */
    float *probs;   /* (B, classes) softmax of the last forward */
    float *nll;     /* (B) */
    float *dlogits; /* (B, classes) backward scratch */
    float *ga, *gb; /* backward scratch: gradients of activations */
} tr_cls_state;

/* TR_ERR_ARG unless B >= 1; TR_ERR_NOMEM if the buffers cannot be allocated. */
tr_status tr_cls_state_init(tr_cls_state *s, const tr_cls *m, int B, tr_err *err);
void tr_cls_state_free(tr_cls_state *s);

/* Forward on 1 <= n <= B images x (n, h*w) with labels y (each < classes,
 * asserted): returns the summed cross-entropy (nats) and, if correct is not
 * NULL, adds the number of images whose arg-max class (the first, on ties)
 * equals the label. x and y are copied into s. */
double tr_cls_forward(tr_cls_state *s, const tr_cls *m, const float *x,
                      const uint8_t *y, int n, int64_t *correct);
/* Adds scale * the gradient of the last forward's summed loss into m's
 * parameter gradients. */
void tr_cls_backward(tr_cls_state *s, tr_cls *m, float scale);

/* Mean loss and accuracy of m over a whole image set (d->n >= 1, images of
 * the model's size), in batches of s->B. */
void tr_cls_evaluate(tr_cls_state *s, const tr_cls *m, const tr_images *d,
                     double *loss, double *accuracy);

#ifdef __cplusplus
}
#endif
#endif
