/**
 * One final, unmasked WebSocket text frame (RFC 6455 §5.2) carrying `head` then `body`: what a server sends,
 * built in one buffer so the socket takes it in one write.
 */
export function textFrame(head: Buffer, body: Buffer): Buffer {
  const length = head.length + body.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN, opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  head.copy(frame, headerLength);
  body.copy(frame, headerLength + head.length);
  return frame;
}
