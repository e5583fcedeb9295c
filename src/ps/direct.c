/* The direct transport: requests go straight to tr_ps_server_handle in the
 * caller's thread. Used by the simulator and by tests that drive servers
 * and workers step by step. */
#include "ps_internal.h"

#include <stdlib.h>

static tr_status direct_send(void *ctx, int worker, int server, const void *req, size_t len, void *reply,
                             size_t cap, tr_err *err)
{
    tr_ps_direct *d = ctx;
    (void)worker;
    TR_ASSERT(server >= 0 && server < d->n);
    d->deferred = 0;
    if (tr_ps_server_handle(d->servers[server], req, len, *d->now, reply, cap, &d->len[server]) ==
        TR_PS_DEFERRED) {
        d->deferred = 1;
        d->len[server] = 0;
        return tr_err_set(err, TR_ERR_ARG, "server %d would make worker %d wait (its consistency mode holds it back)",
                          server, worker);
    }
    return TR_OK;
}

static tr_status direct_recv(void *ctx, int worker, int server, size_t *len, tr_err *err)
{
    tr_ps_direct *d = ctx;
    (void)worker;
    (void)err;
    *len = d->len[server];
    return TR_OK;
}

void tr_ps_direct_init(tr_ps_direct *d, tr_ps_server **servers, int n,
                       const double *now, tr_ps_transport *out)
{
    TR_ASSERT(n >= 1 && servers && now);
    d->servers = servers;
    d->n = n;
    d->now = now;
    d->len = tr_xcalloc((size_t)n, sizeof(size_t));
    d->deferred = 0;
    out->ctx = d;
    out->servers = n;
    out->send = direct_send;
    out->recv = direct_recv;
}

void tr_ps_direct_free(tr_ps_direct *d)
{
    free(d->len);
    d->len = NULL;
}
