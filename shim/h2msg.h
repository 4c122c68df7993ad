/*
 * HTTP/2 messages seen as HTTP/1.1 heads, so that one set of adapters,
 * decisions, rewrites and SigV4 code serves both protocols.
 *
 * A request's decoded header list becomes the text
 *     "<:method> <:path> HTTP/1.1\r\n" then "<name>: <value>\r\n" per field
 * (pseudo-fields other than :method and :path keep their leading ':', so
 * ":authority" is a header the SigV4 code finds by that name, as the AWS JS
 * SDK signs it), plus a "host" line carrying :authority when the list has
 * no host field (curl's SigV4 signs host; AWS reads :authority as host),
 * then "\r\n"; and a tf_h1_head whose spans point into that text. Content
 * length is the content-length field's, else the body's length (HTTP/2
 * frames bodies itself). The text has the shape shim/rewrite.h expects, and
 * a rewritten text converts back to a header list.
 *
 * A response's list becomes "HTTP/1.1 <:status> \r\n" + its fields.
 *
 * Errors (TF_H2MSG_EBAD): a request without :method or :path (or a :path
 * not starting with '/'), a response without a three-digit :status, a name
 * or value with CR, LF or NUL, a regular name with ':', more fields than a
 * tf_h1_head holds. Such messages are not shown to adapters.
 */
#ifndef TF_H2MSG_H
#define TF_H2MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hpack.h"
#include "http1.h"

enum {
	TF_H2MSG_EBAD = -4101,
};

/* text is reset and filled; h points into it. *host_added says a "host"
 * line was made from :authority. 0, TF_H2MSG_EBAD, or a tf_buf error. */
int tf_h2msg_request_view(const tf_hlist *l, size_t body_len, tf_buf *text, tf_h1_head *h,
			  bool *host_added);

/*
 * The header list of a request text of the shape above (e.g. what
 * tf_rw_request() made of a view): :method and :path from the request
 * line, then the other pseudo-fields, then the regular fields, in text
 * order; drop_host leaves out the host line the view added. A field keeps
 * TF_HPACK_NEVER_INDEX when orig has that flag on a field of its name.
 * 0, TF_H2MSG_EBAD, or a tf_hlist/tf_buf error.
 */
int tf_h2msg_request_from_text(const char *text, size_t len, bool drop_host, const tf_hlist *orig,
			       tf_hlist *out);

/* text is reset and filled; h points into it. 0 or TF_H2MSG_EBAD. */
int tf_h2msg_response_view(const tf_hlist *l, tf_buf *text, tf_h1_head *h);

/*
 * An HTTP/1.1 response (head + body, e.g. from tf_synth_error) as an
 * HTTP/2 header list: :status, then the fields with lower-case names,
 * without the connection-specific ones (Connection, Keep-Alive,
 * Proxy-Connection, Transfer-Encoding, Upgrade). *body_off is where the
 * body starts in msg. 0 or TF_H2MSG_EBAD.
 */
int tf_h2msg_response_from_h1(const uint8_t *msg, size_t len, tf_hlist *out, size_t *body_off);

#endif
