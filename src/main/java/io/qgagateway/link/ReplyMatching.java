package io.qgagateway.link;

/** How a {@link GuestLink} matches replies to requests on its current connection. */
enum ReplyMatching {
  /** The agent echoes request ids: a reply must carry the id of the command in flight. */
  ID,
  /** It does not (old agents): the next reply after a write is that command's. */
  ORDER;

  String label() {
    return this == ID ? "id" : "order";
  }
}
