/*
 * A message channel over an AF_UNIX SOCK_SEQPACKET socket pair that carries one file descriptor
 * with a message (SCM_RIGHTS). The supervisor answers a runtime's dial request with the
 * connected socket's descriptor on it.
 *
 * Why not Node's IPC channel: it passes one handle at a time, holds every later message until the
 * receiver acknowledges it, and pays for a JSON envelope and an acknowledgement per handle. That
 * cost the supervisor 180-390 us of CPU per passed socket (docs/performance.md); one sendmsg()
 * and one recvmsg() cost a few microseconds. No maintained npm package passes descriptors over a
 * SOCK_SEQPACKET socket with libuv readiness, and this is the isolation path's core.
 *
 * Messages are bounded (MAX_MESSAGE bytes); a longer or truncated one is dropped with any
 * descriptor it carried. At most one descriptor is taken per message; extra ones are closed. A
 * readable wake reads at most MAX_PER_WAKE messages so that a flooding peer cannot starve the
 * event loop.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#define MAX_MESSAGE 8192
#define MAX_PER_WAKE 64
#define MAX_FDS 4

#define CALL(env, expr)                                                                 \
  do {                                                                                  \
    if ((expr) != napi_ok) {                                                            \
      napi_throw_error((env), NULL, "fd-channel: N-API call failed"); \
      return NULL;                                                                      \
    }                                                                                   \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int error) {
  char text[160];
  snprintf(text, sizeof text, "fd-channel: %s: %s", what, strerror(error));
  napi_throw_error(env, NULL, text);
  return NULL;
}

static void close_fds(int *fds, int count) {
  for (int i = 0; i < count; i++) close(fds[i]);
}

enum kind { CHANNEL = 1, DIAL = 2 };

/*
 * What a channel and a dial share: a descriptor under libuv's poll, the JavaScript functions it
 * calls back, and an async context for them. The JS external and the libuv handle each hold it;
 * the last to let go frees it.
 */
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_async_context context;
  napi_ref callbacks[2];
  enum kind kind;
  int fd;
  int stopped; /* the poll is stopped and the descriptor closed or handed over */
  int holders;
} polled_t;

typedef struct {
  polled_t base; /* callbacks: onMessage, onWritable */
  int events;
} channel_t;

typedef struct {
  polled_t base; /* callbacks: the dial's callback */
  int failed;    /* connect()'s own error, when it failed at once */
} dial_t;

static void release(polled_t *polled) {
  if (--polled->holders == 0) free(polled);
}

static void on_polled_closed(uv_handle_t *handle) {
  polled_t *polled = (polled_t *)handle->data;
  for (int i = 0; i < 2; i++) {
    if (polled->callbacks[i] != NULL) napi_delete_reference(polled->env, polled->callbacks[i]);
  }
  napi_async_destroy(polled->env, polled->context);
  release(polled);
}

/* Stops the poll once and closes the descriptor, unless the caller took it (fd set to -1). */
static void stop_polled(polled_t *polled) {
  if (polled->stopped) return;
  polled->stopped = 1;
  uv_poll_stop(&polled->poll);
  if (polled->fd >= 0) close(polled->fd);
  polled->fd = -1;
  uv_close((uv_handle_t *)&polled->poll, on_polled_closed);
}

/* The external was collected: stop it if its owner never did. */
static void finalize_polled(napi_env env, void *data, void *hint) {
  stop_polled((polled_t *)data);
  release((polled_t *)data);
}

/*
 * Starts polling `fd` (which it then owns) for `events`, keeping `callbacks`, and makes the
 * external that holds `polled`; NULL with a pending exception if it cannot.
 */
static napi_value start_polled(napi_env env, polled_t *polled, enum kind kind, int fd,
                               const napi_value *callbacks, int count, const char *name,
                               int events, uv_poll_cb on_event) {
  uv_loop_t *loop;
  napi_value resource, external;
  polled->kind = kind;
  polled->env = env;
  polled->fd = fd;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &polled->poll, fd) != 0) {
    close(fd);
    free(polled);
    return throw_errno(env, "uv_poll_init", EINVAL);
  }
  polled->poll.data = polled;
  polled->holders = 2;
  CALL(env, napi_create_external(env, polled, finalize_polled, NULL, &external));
  for (int i = 0; i < count; i++) {
    CALL(env, napi_create_reference(env, callbacks[i], 1, &polled->callbacks[i]));
  }
  CALL(env, napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CALL(env, napi_async_init(env, NULL, resource, &polled->context));
  uv_poll_start(&polled->poll, events, on_event);
  /* Never what keeps a process alive: its owner's other handles decide that. */
  uv_unref((uv_handle_t *)&polled->poll);
  return external;
}

/* The channel behind an external of this module, or NULL with a TypeError. */
static channel_t *unwrap_channel(napi_env env, napi_value value) {
  polled_t *polled = NULL;
  if (napi_get_value_external(env, value, (void **)&polled) != napi_ok || polled == NULL ||
      polled->kind != CHANNEL) {
    napi_throw_type_error(env, NULL, "fd-channel: not a channel");
    return NULL;
  }
  return (channel_t *)polled;
}

/* One call's arguments: none, (text or null, int) with `text_arg`, or (int, int). */
typedef struct {
  int argc;
  int text_arg;
  const char *text;
  size_t length;
  int first;
  int second;
} args_t;

/*
 * Calls `ref` with `args` inside a callback scope, so that promises it settles run after it.
 * Returns 0 when the call could not be made: the caller then closes what it would have handed
 * over.
 */
static int invoke(napi_env env, napi_async_context context, napi_ref ref, const args_t *args) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return 0;
  napi_value callback, receiver, argv[2], result;
  int ok = napi_get_reference_value(env, ref, &callback) == napi_ok && callback != NULL &&
           napi_get_global(env, &receiver) == napi_ok;
  if (ok && args->argc > 0) {
    if (!args->text_arg) napi_create_int32(env, args->first, &argv[0]);
    else if (args->text == NULL) napi_get_null(env, &argv[0]);
    else napi_create_string_utf8(env, args->text, args->length, &argv[0]);
    napi_create_int32(env, args->second, &argv[1]);
  }
  if (ok) napi_make_callback(env, context, receiver, callback, (size_t)args->argc, argv, &result);
  /*
   * A throw in the callback (Worker code may run inside it) is left pending by
   * napi_make_callback, with the async context of its scope still entered: every later call
   * would then fail (Node 22+), or Node aborts at the next callback (Node 20). Raise it as
   * Node's uncaught exception instead, which also leaves that context.
   */
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
  return ok;
}

/* Calls the channel's `ref` with (message, fd), or with nothing when argc is 0. */
static void call_back(channel_t *channel, napi_ref ref, int argc, const char *data, size_t length,
                      int fd) {
  args_t args = {argc, 1, data, length, 0, fd};
  if (!invoke(channel->base.env, channel->base.context, ref, &args) && fd >= 0) close(fd);
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  channel_t *channel = (channel_t *)poll->data;
  polled_t *base = &channel->base;
  if (base->stopped) return;
  if (status == 0 && (events & UV_WRITABLE)) {
    channel->events &= ~UV_WRITABLE;
    uv_poll_start(&base->poll, channel->events, on_poll);
    call_back(channel, base->callbacks[1], 0, NULL, 0, -1);
    if (base->stopped) return;
  }
  if (status != 0 || (events & (UV_READABLE | UV_DISCONNECT)) == 0) {
    if (status != 0) {
      stop_polled(base);
      call_back(channel, base->callbacks[0], 2, NULL, 0, -1);
    }
    return;
  }
  static char buffer[MAX_MESSAGE + 1];
  for (int n = 0; n < MAX_PER_WAKE && !base->stopped; n++) {
    union {
      struct cmsghdr header;
      char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    } control;
    struct iovec iov = {buffer, sizeof buffer};
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = sizeof control.space;
    ssize_t got = recvmsg(base->fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    }
    int fds[MAX_FDS];
    int fd_count = 0;
    if (got >= 0) {
      for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c != NULL; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count && fd_count < MAX_FDS; i++) {
          memcpy(&fds[fd_count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
      }
    }
    if (got <= 0) {
      /* End of stream (the peer closed) or an error: the channel is over. */
      close_fds(fds, fd_count);
      stop_polled(base);
      call_back(channel, base->callbacks[0], 2, NULL, 0, -1);
      return;
    }
    if ((message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)got > MAX_MESSAGE) {
      close_fds(fds, fd_count);
      continue;
    }
    if (fd_count > 1) close_fds(fds + 1, fd_count - 1);
    call_back(channel, base->callbacks[0], 2, buffer, (size_t)got, fd_count > 0 ? fds[0] : -1);
  }
}

/* socketPair(): [fd, fd], both close-on-exec (a spawn's stdio entry is dup2()ed without it). */
static napi_value socket_pair(napi_env env, napi_callback_info info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return throw_errno(env, "socketpair", errno);
  }
  napi_value result, a, b;
  CALL(env, napi_create_array_with_length(env, 2, &result));
  CALL(env, napi_create_int32(env, fds[0], &a));
  CALL(env, napi_create_int32(env, fds[1], &b));
  CALL(env, napi_set_element(env, result, 0, a));
  CALL(env, napi_set_element(env, result, 1, b));
  return result;
}

/* open(fd, onMessage(text | null, fd), onWritable()): channel. The channel owns fd. */
static napi_value open_channel(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fd-channel: open(fd, onMessage, onWritable)");
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return throw_errno(env, "fcntl", errno);
  channel_t *channel = calloc(1, sizeof *channel);
  if (channel == NULL) return throw_errno(env, "calloc", ENOMEM);
  channel->events = UV_READABLE | UV_DISCONNECT;
  return start_polled(env, &channel->base, CHANNEL, fd, argv + 1, 2, "WharfFdChannel",
                      channel->events, on_poll);
}

/*
 * send(channel, text, fd): 0 when sent, 1 when the socket's buffer is full (onWritable is then
 * called once it drains), -errno when the channel is broken. `fd` (or -1) travels with the
 * message; the caller still owns and closes its copy.
 */
static napi_value send_message(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "fd-channel: send(channel, text, fd)");
    return NULL;
  }
  channel_t *channel = unwrap_channel(env, argv[0]);
  if (channel == NULL) return NULL;
  static char buffer[MAX_MESSAGE + 1];
  size_t length;
  CALL(env, napi_get_value_string_utf8(env, argv[1], buffer, sizeof buffer, &length));
  if (length >= MAX_MESSAGE) {
    napi_throw_range_error(env, NULL, "fd-channel: message too long");
    return NULL;
  }
  int32_t fd;
  CALL(env, napi_get_value_int32(env, argv[2], &fd));
  int status = 0;
  if (channel->base.stopped) status = -EPIPE;
  else {
    struct iovec iov = {buffer, length};
    union {
      struct cmsghdr header;
      char space[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (fd >= 0) {
      memset(&control, 0, sizeof control);
      message.msg_control = control.space;
      message.msg_controllen = sizeof control.space;
      struct cmsghdr *c = CMSG_FIRSTHDR(&message);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t sent;
    do sent = sendmsg(channel->base.fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
      status = 1;
      channel->events |= UV_WRITABLE;
      uv_poll_start(&channel->base.poll, channel->events, on_poll);
    } else if (sent < 0) status = -errno;
  }
  CALL(env, napi_create_int32(env, status, &result));
  return result;
}

/* Settles a dial once: callback(0, fd) with the connected descriptor, or callback(errno, -1). */
static void settle_dial(dial_t *dial, int error) {
  polled_t *base = &dial->base;
  if (base->stopped) return;
  /* Taken before the stop, which would close it: a connected descriptor goes to the callback. */
  int fd = error == 0 ? base->fd : -1;
  if (error == 0) base->fd = -1;
  stop_polled(base);
  /* The async context lives until on_polled_closed, a later turn of the loop. */
  args_t args = {2, 0, NULL, 0, error, fd};
  if (!invoke(base->env, base->context, base->callbacks[0], &args) && fd >= 0) close(fd);
}

static void on_dial_poll(uv_poll_t *poll, int status, int events) {
  dial_t *dial = (dial_t *)poll->data;
  int error = dial->failed;
  socklen_t length = sizeof error;
  if (error == 0 && getsockopt(dial->base.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    error = errno;
  }
  if (error == 0 && status != 0) error = EIO;
  settle_dial(dial, error);
}

/*
 * connect(address, port, callback(errno, fd)): dial, a TCP connection to a numeric IPv4 or IPv6
 * address that the caller has already checked. No Node socket object is made: the descriptor
 * only travels on. The callback always runs later, never inside this call. cancel(dial) closes
 * it unsettled (the callback is then never called).
 */
static napi_value tcp_connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char address[64];
  size_t address_length;
  int32_t port;
  if (argc < 3 ||
      napi_get_value_string_utf8(env, argv[0], address, sizeof address, &address_length) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 1 || port > 65535) {
    napi_throw_type_error(env, NULL, "fd-channel: connect(address, port, callback)");
    return NULL;
  }
  struct sockaddr_storage target;
  socklen_t target_length;
  memset(&target, 0, sizeof target);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&target;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&target;
  if (inet_pton(AF_INET, address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    target_length = sizeof *v4;
  } else if (inet_pton(AF_INET6, address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    target_length = sizeof *v6;
  } else {
    napi_throw_type_error(env, NULL, "fd-channel: not a numeric address");
    return NULL;
  }
  int fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int connected = connect(fd, (struct sockaddr *)&target, target_length);
  int error = connected == 0 ? 0 : errno;
  dial_t *dial = calloc(1, sizeof *dial);
  if (dial == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  /* Completion or failure shows as writability (or an error); even an immediate answer settles
     there, so the callback never runs inside this call. */
  if (error != EINPROGRESS && error != 0) dial->failed = error;
  return start_polled(env, &dial->base, DIAL, fd, argv + 2, 1, "WharfDial", UV_WRITABLE,
                      on_dial_poll);
}

/*
 * close(channel) and cancel(dial): stops it and closes its descriptor; a cancelled dial's callback
 * is never called. Idempotent.
 */
static napi_value stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  polled_t *polled = NULL;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&polled) != napi_ok ||
      polled == NULL || (polled->kind != CHANNEL && polled->kind != DIAL)) {
    napi_throw_type_error(env, NULL, "fd-channel: not a channel or a dial");
    return NULL;
  }
  stop_polled(polled);
  return NULL;
}

/* closeFd(fd): closes a descriptor this process received and will not use. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc >= 1 && napi_get_value_int32(env, argv[0], &fd) == napi_ok && fd > 2) close(fd);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"socketPair", NULL, socket_pair, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_channel, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, send_message, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, tcp_connect, NULL, NULL, NULL, napi_default, NULL},
      {"cancel", NULL, stop, NULL, NULL, NULL, napi_default, NULL},
      {"closeFd", NULL, close_fd, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof *properties, properties) !=
      napi_ok) {
    return NULL;
  }
  return exports;
}
