/**
 * A synthetic camera: `canvas.captureStream()` of an animated, coloured picture. The webcam
 * scenarios publish it instead of a getUserMedia track, so that no test needs a camera or a
 * permission grant (granting one turns off Chromium's mDNS hiding of host candidates, and then
 * the tests would not see the network that users see).
 */
export interface SyntheticCamera {
  stream: MediaStream;
  track: MediaStreamTrack;
  stop: () => void;
}

export function syntheticCamera(width = 640, height = 480, fps = 30): SyntheticCamera {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d")!;
  let frame = 0;
  const draw = (): void => {
    // Colour bands drifting sideways, and a white square crossing them: every frame differs.
    const hue = (frame * 3) % 360;
    for (let i = 0; i < 6; i++) {
      ctx.fillStyle = `hsl(${(hue + i * 60) % 360} 80% 50%)`;
      ctx.fillRect((i * width) / 6, 0, width / 6 + 1, height);
    }
    ctx.fillStyle = "#fff";
    ctx.fillRect((frame * 7) % width, height / 3, height / 4, height / 4);
    frame++;
  };
  draw();
  // A timer, not requestAnimationFrame: it keeps drawing in a page that is not in front.
  const timer = setInterval(draw, 1000 / fps);
  const stream = canvas.captureStream(fps);
  const track = stream.getVideoTracks()[0]!;
  return {
    stream,
    track,
    stop: () => {
      clearInterval(timer);
      stream.getTracks().forEach((t) => t.stop());
    },
  };
}

/**
 * Make `navigator.mediaDevices.getUserMedia` answer with synthetic cameras (for components that
 * capture the camera themselves, like `<WebcamStream>`); returns the function that undoes it.
 */
export function useSyntheticGetUserMedia(): () => void {
  const devices = navigator.mediaDevices;
  const original = devices.getUserMedia.bind(devices);
  const made: SyntheticCamera[] = [];
  devices.getUserMedia = async (constraints?: MediaStreamConstraints): Promise<MediaStream> => {
    if (!constraints?.video) return original(constraints);
    const camera = syntheticCamera();
    made.push(camera);
    return camera.stream;
  };
  return () => {
    devices.getUserMedia = original;
    made.forEach((c) => c.stop());
  };
}
