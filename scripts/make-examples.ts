/**
 * Draws the page's bundled example images (assets/examples/) with @napi-rs/canvas, so that they are ours to
 * ship and small. Run: node --import tsx scripts/make-examples.ts
 */
import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { writeFileSync } from 'node:fs';

const W = 320;
const H = 240;
const out = new URL('../assets/examples/', import.meta.url);

function save(name: string, draw: (ctx: SKRSContext2D) => void): void {
  const canvas = createCanvas(W, H);
  const ctx = canvas.getContext('2d');
  draw(ctx);
  const bytes = name.endsWith('.png') ? canvas.toBuffer('image/png') : canvas.toBuffer('image/jpeg', 85);
  writeFileSync(new URL(name, out), bytes);
  console.log(`${name}: ${bytes.length} bytes`);
}

save('sunset.jpg', (ctx) => {
  const sky = ctx.createLinearGradient(0, 0, 0, H * 0.62);
  sky.addColorStop(0, '#2b1b5a');
  sky.addColorStop(0.55, '#c2456b');
  sky.addColorStop(1, '#ffb35c');
  ctx.fillStyle = sky;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#ffe9a8';
  ctx.beginPath();
  ctx.arc(W * 0.62, H * 0.4, 30, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#3a2150';
  ctx.beginPath();
  ctx.moveTo(0, H * 0.62);
  for (let x = 0; x <= W; x += 20) ctx.lineTo(x, H * 0.62 - 30 - 25 * Math.sin(x / 37) * Math.cos(x / 91));
  ctx.lineTo(W, H * 0.62);
  ctx.fill();
  const sea = ctx.createLinearGradient(0, H * 0.62, 0, H);
  sea.addColorStop(0, '#6b3a6e');
  sea.addColorStop(1, '#14122b');
  ctx.fillStyle = sea;
  ctx.fillRect(0, H * 0.62, W, H);
  ctx.fillStyle = 'rgba(255, 220, 150, 0.55)';
  for (let i = 0; i < 14; i++) ctx.fillRect(W * 0.62 - 30 + ((i * 7) % 23), H * 0.65 + i * 6, 60 - i * 3, 2);
});

save('shapes.png', (ctx) => {
  ctx.fillStyle = '#f7f4ee';
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#e63946';
  ctx.beginPath();
  ctx.arc(80, 80, 50, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#1d6fd1';
  ctx.fillRect(180, 30, 100, 100);
  ctx.fillStyle = '#2a9d4b';
  ctx.beginPath();
  ctx.moveTo(40, 220);
  ctx.lineTo(110, 140);
  ctx.lineTo(180, 220);
  ctx.fill();
  ctx.fillStyle = '#f4c20d';
  ctx.beginPath();
  for (let i = 0; i < 10; i++) {
    const r = i % 2 === 0 ? 42 : 18;
    const a = -Math.PI / 2 + (i * Math.PI) / 5;
    ctx.lineTo(245 + r * Math.cos(a), 185 + r * Math.sin(a));
  }
  ctx.fill();
});

save('stop-sign.jpg', (ctx) => {
  const sky = ctx.createLinearGradient(0, 0, 0, H);
  sky.addColorStop(0, '#8fc7ff');
  sky.addColorStop(1, '#dff0ff');
  ctx.fillStyle = sky;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = '#4f7a3a';
  ctx.fillRect(0, H * 0.8, W, H);
  ctx.fillStyle = '#8c8c8c';
  ctx.fillRect(W / 2 - 5, 110, 10, H);
  ctx.fillStyle = '#c8102e';
  ctx.strokeStyle = '#ffffff';
  ctx.lineWidth = 6;
  ctx.beginPath();
  for (let i = 0; i < 8; i++) {
    const a = Math.PI / 8 + (i * Math.PI) / 4;
    ctx.lineTo(W / 2 + 78 * Math.cos(a), 100 + 78 * Math.sin(a));
  }
  ctx.closePath();
  ctx.fill();
  ctx.stroke();
  ctx.fillStyle = '#ffffff';
  ctx.font = 'bold 44px sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText('STOP', W / 2, 102);
});

save('fruit.jpg', (ctx) => {
  for (let y = 0; y < H; y += 12) {
    ctx.fillStyle = y % 24 === 0 ? '#8a5a35' : '#7a4e2d';
    ctx.fillRect(0, y, W, 12);
  }
  ctx.fillStyle = '#c0392b';
  ctx.beginPath();
  ctx.arc(110, 140, 58, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = 'rgba(255,255,255,0.35)';
  ctx.beginPath();
  ctx.arc(90, 118, 14, 0, Math.PI * 2);
  ctx.fill();
  ctx.fillStyle = '#3c2415';
  ctx.fillRect(107, 70, 6, 22);
  ctx.fillStyle = '#3f9b3a';
  ctx.beginPath();
  ctx.ellipse(132, 78, 22, 10, -0.5, 0, Math.PI * 2);
  ctx.fill();
  ctx.strokeStyle = '#f2d13b';
  ctx.lineWidth = 30;
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.arc(225, 20, 120, 0.2 * Math.PI, 0.62 * Math.PI);
  ctx.stroke();
});
