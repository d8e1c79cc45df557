// Package compress implements response compression for the Weir proxy.
//
// A [Compressor] is built once from [Options] (usually when a configuration
// snapshot is built) and then used on the request path through
// [Compressor.Wrap]. Wrap negotiates a content coding from the request's
// Accept-Encoding header (zstd and gzip, with q-values, "*" and "identity"
// honoured as RFC 9110 §12.5.3 describes) and returns a wrapping
// [http.ResponseWriter] that decides lazily, when the handler writes the
// status or the first body bytes, whether the response is compressed.
//
// When the request accepts none of the configured codings, is a HEAD,
// CONNECT or upgrade request, or carries "Cache-Control: no-transform", Wrap
// returns the original writer and a no-op finish function without
// allocating.
//
// A response is left untouched when it already has a Content-Encoding, its
// status is 1xx, 204, 206 or 304, it carries a Content-Range, its media
// type is not in the configured list (a response without Content-Type is
// never compressed), its Content-Length is below the minimum length, or it
// says "Cache-Control: no-transform". When the length is unknown the writer
// buffers up to the minimum length before deciding, and passes a body that
// ends shorter through uncompressed.
//
// A compressed response gets Content-Encoding, loses Content-Length and
// Accept-Ranges, gets "Vary: Accept-Encoding" (once) and has a strong ETag
// turned into a weak one, because the bytes differ from the upstream's.
// Flush flushes the encoder and then the underlying writer, so server-sent
// events and other streamed bodies keep flowing. The wrapper implements
// Unwrap, so [http.ResponseController] reaches the underlying writer for
// hijacking and deadlines. Trailers set through the shared header map pass
// through unchanged.
//
// Encoders, wrappers and look-ahead buffers are pooled per Compressor, so a
// compressed response allocates nothing in steady state. The caller must call
// the finish function returned by Wrap exactly once, after the handler has
// returned (a defer is the usual way); it closes the encoder and returns
// everything to the pools.
package compress
