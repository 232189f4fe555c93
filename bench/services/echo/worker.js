// An echo written as a Worker's connect() handler.
export default {
  async connect(socket) {
    await socket.readable.pipeTo(socket.writable)
  },
}
